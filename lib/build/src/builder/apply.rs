//! The config-only instructions of a step (ENV, LABEL, EXPOSE, …) on the image document.

use super::*;

impl Build<'_> {
    /// A config-only instruction applied to `doc`; the history text.
    pub(super) fn apply_config(
        &self,
        state: &mut State,
        doc: &mut Value,
        command: &Command,
    ) -> Result<String> {
        let mut cmd_set_now = state.cmd_set;
        let cmd_set = &mut cmd_set_now;
        let vars = Self::lookup(state);
        let x =
            |w: &str| words::expand(w, self.escape, &vars).map_err(|e| BuildError::Context(e.0));
        let keyword = command.keyword();
        let config = config::run_config(doc);
        let shown = match command {
            Command::Env(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let v = x(v)?;
                    config::set_env(config, k, &v);
                    shown.push(format!("{k}={v}"));
                }
                format!("ENV {}", shown.join(" "))
            }
            Command::Label(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (x(k)?, x(v)?);
                    config::add_to_map(config, "Labels", &k, Value::String(v.clone()));
                    shown.push(format!("{k}={v}"));
                }
                format!("LABEL {}", shown.join(" "))
            }
            Command::Expose(ports) => {
                let mut shown = Vec::new();
                for p in ports {
                    for port in config::ports(&x(p)?).map_err(BuildError::Context)? {
                        config::add_to_map(config, "ExposedPorts", &port, json!({}));
                        shown.push(port);
                    }
                }
                format!("EXPOSE map[{}]", shown.join(" "))
            }
            Command::Volume(paths) => {
                let mut shown = Vec::new();
                for p in paths {
                    let p = x(p)?;
                    config::add_to_map(config, "Volumes", &p, json!({}));
                    shown.push(p);
                }
                format!("VOLUME [{}]", shown.join(" "))
            }
            Command::User(user) => {
                let user = x(user)?;
                config.insert("User".into(), user.clone().into());
                format!("USER {user}")
            }
            Command::Workdir(dir) => {
                let current = config
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("/")
                    .to_string();
                let dir = config::absolute(&current, &x(dir)?);
                config.insert("WorkingDir".into(), dir.clone().into());
                format!("WORKDIR {dir}")
            }
            Command::StopSignal(signal) => {
                let signal = x(signal)?;
                config.insert("StopSignal".into(), signal.clone().into());
                format!("STOPSIGNAL {signal}")
            }
            Command::Shell(shell) => {
                config.insert("Shell".into(), json!(shell));
                format!("SHELL {}", json!(shell))
            }
            Command::Cmd(line) => {
                let argv = config::argv(config, line);
                config.insert("Cmd".into(), json!(argv));
                *cmd_set = true;
                format!("CMD {}", json!(argv))
            }
            Command::Entrypoint(line) => {
                let argv = config::argv(config, line);
                config.insert("Entrypoint".into(), json!(argv));
                if !*cmd_set {
                    config.insert("Cmd".into(), Value::Null);
                }
                format!("ENTRYPOINT {}", json!(argv))
            }
            Command::Healthcheck(check) => {
                config.insert("Healthcheck".into(), config::healthcheck(check.as_ref()));
                "HEALTHCHECK".to_string()
            }
            Command::Onbuild(trigger) => {
                let list = config.entry("OnBuild").or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                if let Some(l) = list.as_array_mut() {
                    l.push(trigger.clone().into());
                }
                format!("ONBUILD {trigger}")
            }
            Command::Maintainer(who) => {
                doc["author"] = Value::String(who.clone());
                format!("MAINTAINER {who}")
            }
            _ => keyword.to_string(),
        };
        drop(vars);
        state.cmd_set = cmd_set_now;
        Ok(shown)
    }
}
