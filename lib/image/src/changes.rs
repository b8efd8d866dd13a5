//! `--change` instructions of `import`, in Dockerfile syntax, applied to a run config.

use std::collections::HashMap;

use crate::error::{ImageError, Result};
use crate::spec::RunConfig;

/// Applies one instruction such as `CMD ["sh"]`, `ENV A=b C=d`, `EXPOSE 80/tcp`.
pub fn apply_change(config: &mut RunConfig, instruction: &str) -> Result<()> {
    let bad = |reason: &str| ImageError::BadChange {
        instruction: instruction.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = instruction.trim();
    let (keyword, rest) = trimmed
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("expected an instruction and its arguments"))?;
    let rest = rest.trim();
    match keyword.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.set_cmd(Some(command(rest)));
        }
        "ENTRYPOINT" => {
            config.set_entrypoint(Some(command(rest)));
        }
        "WORKDIR" => {
            config.set_working_dir(Some(rest.to_string()));
        }
        "USER" => {
            config.set_user(Some(rest.to_string()));
        }
        "STOPSIGNAL" => {
            config.set_stop_signal(Some(rest.to_string()));
        }
        "ENV" => {
            let mut env = config.env().clone().unwrap_or_default();
            for (key, value) in pairs(rest).map_err(&bad)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                env.push(format!("{key}={value}"));
            }
            config.set_env(Some(env));
        }
        "LABEL" => {
            let labels = config.labels_mut().get_or_insert_with(HashMap::new);
            labels.extend(pairs(rest).map_err(&bad)?);
        }
        "EXPOSE" => {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            for port in rest.split_whitespace() {
                let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
                if number.parse::<u16>().is_err() || !["tcp", "udp", "sctp"].contains(&proto) {
                    return Err(bad("ports are NUMBER[/tcp|/udp|/sctp]"));
                }
                add_once(&mut ports, format!("{number}/{proto}"));
            }
            config.set_exposed_ports(Some(ports));
        }
        "VOLUME" => {
            let mut volumes = config.volumes().clone().unwrap_or_default();
            for path in list(rest) {
                add_once(&mut volumes, path);
            }
            config.set_volumes(Some(volumes));
        }
        _ => {
            return Err(bad(
                "supported: CMD ENTRYPOINT ENV EXPOSE LABEL STOPSIGNAL USER VOLUME WORKDIR",
            ))
        }
    }
    Ok(())
}

/// oci-spec keeps Docker's sets (`{"80/tcp": {}}`) as lists.
fn add_once(set: &mut Vec<String>, item: String) {
    if !set.contains(&item) {
        set.push(item);
    }
}

/// JSON form (`["a","b"]`) as is; shell form runs under `/bin/sh -c`.
fn command(text: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(args) => args,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), text.into()],
    }
}

fn list(text: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(text)
        .unwrap_or_else(|_| text.split_whitespace().map(String::from).collect())
}

/// `K=V K2="v 2"` pairs, or the legacy `K V` form.
fn pairs(text: &str) -> std::result::Result<Vec<(String, String)>, &'static str> {
    if !text.contains('=') {
        let (key, value) = text
            .split_once(char::is_whitespace)
            .ok_or("expected KEY=VALUE")?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err("expected KEY=VALUE");
        }
        let mut value = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    chars.next();
                    if let Some(escaped) = chars.peek().copied() {
                        value.push(escaped);
                    }
                }
                (_, c) => value.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err("unterminated quote");
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_set_their_fields() {
        let mut config = RunConfig::default();
        apply_change(&mut config, r#"CMD ["sh", "-c", "echo hi"]"#).unwrap();
        apply_change(&mut config, "ENTRYPOINT /bin/init").unwrap();
        apply_change(&mut config, r#"ENV A=1 B="two words""#).unwrap();
        apply_change(&mut config, "ENV A=3").unwrap();
        apply_change(&mut config, "EXPOSE 80 53/udp").unwrap();
        apply_change(&mut config, "LABEL org.x=y").unwrap();
        apply_change(&mut config, "WORKDIR /srv").unwrap();
        apply_change(&mut config, "EXPOSE 80/tcp").unwrap();
        assert_eq!(config.cmd().as_deref().unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(
            config.entrypoint().as_deref().unwrap(),
            ["/bin/sh", "-c", "/bin/init"]
        );
        assert_eq!(config.env().as_deref().unwrap(), ["B=two words", "A=3"]);
        assert_eq!(
            config.exposed_ports().as_deref().unwrap(),
            ["80/tcp", "53/udp"]
        );
        assert_eq!(config.labels().as_ref().unwrap()["org.x"], "y");
        assert_eq!(config.working_dir().as_deref().unwrap(), "/srv");
    }

    #[test]
    fn unknown_or_malformed_instructions_are_errors() {
        let mut config = RunConfig::default();
        assert!(apply_change(&mut config, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut config, "EXPOSE http").is_err());
        assert!(apply_change(&mut config, "CMD").is_err());
    }
}
