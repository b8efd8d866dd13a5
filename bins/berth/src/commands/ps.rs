//! `ps`: every daemon's containers at once, merged into one table with a HOST column when
//! there are several; a daemon that fails is named on stderr and the exit code is 1.

use berth_client::http::query;
use berth_client::multi::Clients;
use berth_client::views::{container_row, headers_for, PS_TABLE};
use serde_json::Value;

use crate::cli::PsArgs;
use crate::exit::Outcome;

pub async fn ps(clients: &Clients, args: PsArgs) -> Outcome {
    let mut table = PS_TABLE.to_string();
    if args.size {
        table.push_str("\t{{.Size}}");
    }
    if clients.several() {
        table = format!("{{{{.Host}}}}\t{table}");
    }
    let format_text = if args.quiet {
        Some("{{.ID}}")
    } else {
        args.format.as_deref()
    };
    let format = super::format(format_text, &table)?;
    let mut pairs = vec![(
        "all",
        (args.all || args.latest || args.last > 0).to_string(),
    )];
    if args.latest {
        pairs.push(("limit", "1".into()));
    } else if args.last > 0 {
        pairs.push(("limit", args.last.to_string()));
    }
    if args.size {
        pairs.push(("size", "1".into()));
    }
    if !args.filters.is_empty() {
        pairs.push(("filters", super::filters_json(&args.filters)));
    }
    let path = format!("/containers/json?{}", query(&pairs));
    let (rows, failed) = clients
        .rows(&path, |list: Vec<Value>, host| {
            list.iter()
                .map(|c| container_row(c, args.no_trunc, host))
                .collect()
        })
        .await;
    // No daemon answered: only the errors, as docker prints for its one daemon.
    if failed.len() < clients.0.len() {
        print!("{}", format.render_rows(&rows, &headers_for("container"))?);
    }
    Ok(super::report_failures(clients, &failed))
}
