//! `list` and `ps`, laid out as runc does (tabwriter: columns at least 12 wide, 3 spaces
//! of padding).

use std::path::Path;

use berth_oci_runtime::state::{Container, Status};

use crate::cli::Format;

fn layout(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[c]));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn owner_of(dir: &Path) -> String {
    let uid = std::os::unix::fs::MetadataExt::uid(&match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(_) => return String::new(),
    });
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2)? == &uid.to_string().as_str()).then(|| f[0].to_string())
        })
        .next()
        .unwrap_or_else(|| format!("#{uid}"))
}

pub fn list(root: &Path, format: &Format, quiet: bool) -> anyhow::Result<()> {
    let containers = Container::all(root)?;
    if quiet {
        for c in &containers {
            println!("{}", c.saved.id);
        }
        return Ok(());
    }
    if *format == Format::Json {
        // runc prints null for no containers.
        if containers.is_empty() {
            println!("null");
            return Ok(());
        }
        let items: Vec<_> = containers
            .iter()
            .map(|c| {
                let mut state = c.oci_state();
                state.owner = owner_of(&c.dir);
                state
            })
            .collect();
        println!("{}", serde_json::to_string(&items)?);
        return Ok(());
    }
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec()];
    for c in &containers {
        let status = c.status();
        let pid = if status == Status::Stopped {
            0
        } else {
            c.saved.pid
        };
        rows.push(vec![
            c.saved.id.clone(),
            pid.to_string(),
            status.as_str().to_string(),
            c.saved.bundle.display().to_string(),
            c.saved.created.clone(),
            owner_of(&c.dir),
        ]);
    }
    print!("{}", layout(&rows));
    Ok(())
}

pub fn ps(root: &Path, id: &str, format: &Format, ps_args: &[String]) -> anyhow::Result<()> {
    let container = Container::load(root, id)?;
    let pids = match &container.saved.cgroup {
        Some(part) if container.status() != Status::Stopped => berth_cgroups::procs(part)?,
        _ => Vec::new(),
    };
    if *format == Format::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(());
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let output = std::process::Command::new("ps").args(&args).output()?;
    if !output.status.success() {
        anyhow::bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow::anyhow!("ps {}: no PID column", args.join(" ")))?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::layout;

    #[test]
    fn columns_are_twelve_wide_or_three_past_the_longest() {
        let rows = vec![
            vec!["ID".to_string(), "PID".into(), "OWNER".into()],
            vec!["a-very-long-id".into(), "1".into(), "root".into()],
        ];
        assert_eq!(
            layout(&rows),
            "ID               PID         OWNER\na-very-long-id   1           root\n"
        );
    }
}
