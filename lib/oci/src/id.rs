//! Container ids as runc takes them: `^[\w+-\.]+$`, and never `.` or `..` (an id names a
//! directory under `--root` and a cgroup).

use crate::OciError;

pub fn check(id: &str) -> Result<(), OciError> {
    let invalid = |reason| OciError::InvalidId {
        id: id.to_string(),
        reason,
    };
    if id.is_empty() {
        return Err(invalid("it is empty"));
    }
    if id == "." || id == ".." {
        return Err(invalid("it names a directory"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.');
    if !id.chars().all(allowed) {
        return Err(invalid("only letters, digits, _, +, - and . are allowed"));
    }
    if id.len() > 1024 {
        return Err(invalid("it is longer than 1024 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn runcs_charset_is_accepted_and_paths_are_not() {
        for ok in ["abc", "a.b-c_d+e", "0123", "x.."] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b", "é"] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }
}
