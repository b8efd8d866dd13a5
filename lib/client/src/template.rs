//! `--format` as docker users write it: Go templates (gtmpl) with docker's functions
//! (`json`, `lower`, `upper`, `title`, `join`, `split`, `truncate`, `pad`), the `table`
//! prefix (a header row from the column names, cells aligned as Go's tabwriter does), and
//! the names `table`/`json`/`raw` alone. The data is JSON, shaped per table by the caller.

use std::collections::HashMap;

use gtmpl::{Context, Template};
use gtmpl_value::{FuncError, Number, Value};

use crate::error::Result;

/// A parsed `--format`.
pub struct Format {
    template: Template,
    /// The template as the user wrote it, and as gtmpl got it: for errors.
    text: String,
    body: String,
    /// `table …`: a header row and aligned columns.
    table: bool,
}

impl Format {
    /// Parses `text`; `table_default` is the table docker prints for `table` alone (and
    /// with no `--format`).
    pub fn parse(text: &str, table_default: &str) -> Result<Format> {
        let (table, body) = match text.trim_start() {
            "table" | "" => (true, table_default.to_string()),
            "json" => (false, "{{json .}}".to_string()),
            t => match t.strip_prefix("table") {
                Some(rest) if rest.starts_with([' ', '\t']) => (true, rest[1..].to_string()),
                _ => (false, text.to_string()),
            },
        };
        // `.Label "k"` is a method with an argument in docker; here it is a map lookup.
        let body = body.replace(".Label \"", "index .LabelMap \"");
        // Go templates write `\t` and `\n` as escapes in a shell argument.
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut template = Template::default();
        template.add_funcs(&FUNCS);
        if let Err(e) = template.parse(&body) {
            let message = e.to_string();
            return Err(crate::template_error::parse_error(
                text, &body, &FUNCS, &message,
            ));
        }
        Ok(Format {
            template,
            text: text.to_string(),
            body,
            table,
        })
    }

    /// Renders one object.
    pub fn render(&self, data: &serde_json::Value) -> Result<String> {
        let value = to_value(data);
        self.template
            .render(&Context::from(value.clone()))
            .map_err(|e| {
                crate::template_error::exec_error(
                    &self.text,
                    &self.body,
                    &FUNCS,
                    &value,
                    &e.to_string(),
                )
            })
    }

    /// Every row, one a line; a table gets its header (`headers` maps a field to its
    /// column name) and aligned columns.
    pub fn render_rows(
        &self,
        rows: &[serde_json::Value],
        headers: &[(&str, &str)],
    ) -> Result<String> {
        let mut lines = Vec::new();
        if self.table {
            let header: serde_json::Map<String, serde_json::Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect();
            lines.push(self.render(&serde_json::Value::Object(header))?);
        }
        for row in rows {
            lines.push(self.render(row)?);
        }
        let text = lines
            .into_iter()
            .map(|l| l.trim_end_matches('\n').to_string() + "\n")
            .collect::<String>();
        Ok(if self.table {
            berth_common::table::align_tabs(&text)
        } else {
            text
        })
    }
}

/// JSON as the template engine's values: objects are maps (a missing key is `<no value>`,
/// as for Go maps).
pub fn to_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::Number(Number::from(u)),
            (_, Some(i), _) => Value::Number(Number::from(i)),
            (_, _, Some(f)) => Value::Number(Number::from(f)),
            _ => Value::Nil,
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.into(),
            (_, Some(i), _) => i.into(),
            (_, _, Some(f)) => serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Null,
        },
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            // Go's encoding/json sorts map keys.
            let sorted: std::collections::BTreeMap<_, _> =
                o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
    }
}

const FUNCS: [(&str, gtmpl_value::Func); 8] = [
    ("json", json),
    ("lower", lower),
    ("upper", upper),
    ("title", title),
    ("join", join),
    ("split", split),
    ("truncate", truncate),
    ("pad", pad),
];

fn string_arg(args: &[Value], i: usize, name: &str) -> std::result::Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::NoValue) | Some(Value::Nil) => Ok(String::new()),
        Some(other) => Ok(other.to_string()),
        None => Err(FuncError::AtLeastXArgs(name.into(), i + 1)),
    }
}

fn int_arg(args: &[Value], i: usize, name: &str) -> std::result::Result<usize, FuncError> {
    match args.get(i) {
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|u| u as usize)
            .ok_or(FuncError::UnableToConvertFromValue),
        _ => Err(FuncError::AtLeastXArgs(name.into(), i + 1)),
    }
}

fn json(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let value = args
        .first()
        .ok_or(FuncError::ExactlyXArgs("json".into(), 1))?;
    Ok(Value::String(to_json(value).to_string()))
}

fn lower(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::String(string_arg(args, 0, "lower")?.to_lowercase()))
}

fn upper(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::String(string_arg(args, 0, "upper")?.to_uppercase()))
}

fn title(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = string_arg(args, 0, "title")?;
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    Ok(Value::String(out))
}

fn join(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let sep = string_arg(args, 1, "join")?;
    match args.first() {
        Some(Value::Array(items)) => Ok(Value::String(
            items
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(&sep),
        )),
        Some(Value::Nil) | Some(Value::NoValue) => Ok(Value::String(String::new())),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn split(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = string_arg(args, 0, "split")?;
    let sep = string_arg(args, 1, "split")?;
    Ok(Value::Array(
        s.split(sep.as_str())
            .map(|p| Value::String(p.into()))
            .collect(),
    ))
}

fn truncate(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = string_arg(args, 0, "truncate")?;
    let n = int_arg(args, 1, "truncate")?;
    Ok(Value::String(s.chars().take(n).collect()))
}

fn pad(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = string_arg(args, 0, "pad")?;
    let left = int_arg(args, 1, "pad")?;
    let right = int_arg(args, 2, "pad")?;
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(left),
        " ".repeat(right)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ClientError;
    use serde_json::json;

    #[test]
    fn docker_templates_render() {
        let data = json!({"ID": "abc", "State": {"Running": true}, "Names": ["a", "b"],
            "Labels": {"k": "V"}, "LabelMap": {"k": "V"}});
        let r = |t: &str| Format::parse(t, "").unwrap().render(&data).unwrap();
        assert_eq!(r("{{.ID}}"), "abc");
        assert_eq!(r("{{.State.Running}}"), "true");
        assert_eq!(r("{{json .State}}"), r#"{"Running":true}"#);
        assert_eq!(r("{{join .Names \",\"}}"), "a,b");
        assert_eq!(r("{{range .Names}}[{{.}}]{{end}}"), "[a][b]");
        assert_eq!(r("{{index .Labels \"k\"}}"), "V");
        assert_eq!(r("{{.Label \"k\"}}"), "V");
        assert_eq!(r("{{lower (index .Labels \"k\")}}"), "v");
        assert_eq!(r("{{upper .ID}}"), "ABC");
        assert_eq!(r("{{title \"hello world\"}}"), "Hello World");
        assert_eq!(r("{{truncate .ID 2}}"), "ab");
        assert_eq!(r("{{.Missing}}"), "<no value>");
    }

    #[test]
    fn a_table_has_a_header_and_aligned_columns() {
        let f = Format::parse("table {{.ID}}\t{{.Name}}", "").unwrap();
        let rows = [
            json!({"ID": "1", "Name": "first"}),
            json!({"ID": "22222222222222", "Name": "x"}),
        ];
        let text = f
            .render_rows(&rows, &[("ID", "CONTAINER ID"), ("Name", "NAMES")])
            .unwrap();
        assert_eq!(
            text,
            "CONTAINER ID     NAMES\n1                first\n22222222222222   x\n"
        );
    }

    #[test]
    fn a_bad_template_is_an_error_naming_it_and_where() {
        let parse = |t: &str| match Format::parse(t, "") {
            Err(ClientError::Template(m)) => m,
            Err(e) => panic!("{t:?}: {e}"),
            Ok(_) => panic!("{t:?} parsed"),
        };
        let m = parse("{{.ID}} {{.Names");
        assert!(
            m.starts_with("template parsing error at line 1, column 9 of \"{{.ID}} {{.Names\": "),
            "{m}"
        );
        let m = parse("table {{.ID}}\\t{{nosuchfunc .ID}}");
        assert!(m.contains("line 1, column 16"), "{m}");
        assert!(m.contains("nosuchfunc not defined"), "{m}");
        let m = parse("{{.ID}}\n{{if .A}}x{{else}}{{end}}{{end}}");
        assert!(m.contains("line 2, column 26"), "{m}");
        // An open block is found only at the end: no action is at fault.
        let m = parse("{{range .Names}}{{.}}");
        assert!(m.starts_with("template parsing error of "), "{m}");
        let exec = |t: &str| match Format::parse(t, "")
            .unwrap()
            .render(&json!({"A": 1, "ID": "x"}))
        {
            Err(ClientError::Template(m)) => m,
            other => panic!("{t:?}: {other:?}"),
        };
        let m = exec("{{.ID}}: {{index .A}}");
        assert!(
            m.starts_with("template execution error at line 1, column 10 of "),
            "{m}"
        );
        assert!(m.contains("index requires at least 2"), "{m}");
    }
}
