//! `berth-run ps` for people, as `docker ps` prints it: human durations ("Up 3 seconds",
//! "Exited (0) 2 minutes ago"), the command quoted and cut to 20 characters, and columns
//! as wide as their widest cell.

use std::io::Write;
use std::time::SystemTime;

use berth_common::{human, table};

use crate::control::{short, PsRow};
use crate::state::RunState;

/// `docker ps`'s COMMAND width before the quotes.
const COMMAND_WIDTH: usize = 20;

/// The STATUS column.
pub fn status(state: &RunState) -> String {
    let now = SystemTime::now();
    let since = |time: &str| human::since(time, now).unwrap_or_else(|| "?".into());
    if state.is_running() {
        return format!("Up {}", since(&state.created));
    }
    match state.exit_code {
        Some(code) => format!(
            "Exited ({code}) {} ago",
            since(state.finished.as_deref().unwrap_or(&state.created))
        ),
        None => "Exited (unknown: the monitor was killed)".to_string(),
    }
}

/// The table (or, `quiet`, the short ids).
pub fn print_ps(rows: &[PsRow], quiet: bool, out: &mut impl Write) -> std::io::Result<()> {
    if quiet {
        for row in rows {
            writeln!(out, "{}", short(&row.id))?;
        }
        return Ok(());
    }
    out.write_all(render(rows).as_bytes())
}

fn render(rows: &[PsRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                short(&row.id).to_string(),
                row.image.clone(),
                human::quoted_command(&row.command, COMMAND_WIDTH),
                human::ago(&row.created),
                row.status.clone(),
                row.ports.clone(),
                row.names.clone(),
            ]
        })
        .collect();
    table::render(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ],
        &cells,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(command: &str, ports: &str) -> PsRow {
        PsRow {
            id: "0123456789abcdef".repeat(4),
            image: "busybox:latest".into(),
            command: command.into(),
            created: "2000-01-01T00:00:00Z".into(),
            status: "Up 2 seconds".into(),
            ports: ports.into(),
            names: "web".into(),
        }
    }

    #[test]
    fn the_table_quotes_cut_commands_and_aligns_every_column() {
        let text = render(&[
            row("sh -c 'echo hello; sleep 100'", "127.0.0.1:8080->80/tcp"),
            row("sleep 100", ""),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].contains("\"sh -c 'echo hello; …\""), "{text}");
        assert!(lines[2].contains("\"sleep 100\""), "{text}");
        assert!(lines[1].contains("years ago"), "{text}");
        // Columns are counted in characters: the ellipsis is one, though three bytes.
        let column = |line: &str, text: &str| line[..line.find(text).unwrap()].chars().count();
        let names_at = column(lines[0], "NAMES");
        assert!(
            lines[1..].iter().all(|l| column(l, "web") == names_at),
            "{text}"
        );
    }
}
