//! `context create/use/ls/rm/inspect/show` over docker's context store.

use std::path::Path;

use berth_client::context::{Meta, Store, DEFAULT};
use berth_client::http::indented;
use berth_client::template::Format;
use serde_json::{json, Value};

use crate::cli::ContextCommand;
use crate::exit::{Failure, Outcome};

pub fn run(config: &Path, command: &ContextCommand) -> Outcome {
    let store = Store::new(config);
    match command {
        ContextCommand::Create {
            description,
            docker,
            name,
        } => {
            let host = docker
                .split(',')
                .find_map(|kv| kv.strip_prefix("host="))
                .ok_or_else(|| Failure::new(1, "--docker: give host=ADDR"))?;
            berth_client::host::Address::parse(host, false)?;
            store.create(&Meta::new(name, description, host))?;
            println!("{name}");
            eprintln!("Successfully created context \"{name}\"");
        }
        ContextCommand::Use { name } => {
            store.set_current(name)?;
            println!("{name}");
            eprintln!("Current context is now \"{name}\"");
        }
        ContextCommand::Show => println!("{}", store.current()?),
        ContextCommand::Ls { quiet, format } => {
            let current = store.current()?;
            let mut rows = vec![json!({
                "Name": DEFAULT, "Current": current == DEFAULT,
                "Description": "Current DOCKER_HOST based configuration",
                "DockerEndpoint": std::env::var("DOCKER_HOST").unwrap_or_else(|_| "(in-process)".into()),
            })];
            for meta in store.list()? {
                rows.push(json!({
                    "Name": meta.name, "Current": current == meta.name,
                    "Description": meta.description(),
                    "DockerEndpoint": meta.host().unwrap_or_default(),
                }));
            }
            let table = "{{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}";
            let text = if *quiet {
                Some("{{.Name}}")
            } else {
                format.as_deref()
            };
            let f = Format::parse(text.unwrap_or("table"), table)?;
            let headers = [
                ("Name", "NAME"),
                ("Description", "DESCRIPTION"),
                ("DockerEndpoint", "DOCKER ENDPOINT"),
            ];
            print!("{}", f.render_rows(&rows, &headers)?);
        }
        ContextCommand::Rm { force, names } => {
            let current = store.current()?;
            for name in names {
                if *name == current && !force {
                    return Err(Failure::new(
                        1,
                        format!("context \"{name}\" is in use, set -f flag to force remove"),
                    ));
                }
                store.remove(name)?;
                println!("{name}");
            }
        }
        ContextCommand::Inspect { format, names } => {
            let names = if names.is_empty() {
                vec![store.current()?]
            } else {
                names.clone()
            };
            let mut found = Vec::new();
            for name in &names {
                let meta = store.get(name)?;
                found.push(serde_json::to_value(&meta).unwrap_or(Value::Null));
            }
            match format {
                Some(f) => {
                    let f = Format::parse(f, "")?;
                    for v in &found {
                        println!("{}", f.render(v)?);
                    }
                }
                None => println!("{}", indented(&Value::Array(found))),
            }
        }
    }
    Ok(0)
}
