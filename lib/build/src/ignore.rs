//! `.dockerignore`: patterns of context paths left out of the build, `!` for exceptions,
//! the last matching line deciding (moby's patternmatcher). A pattern that matches a
//! directory leaves out everything below it. Also the glob matcher COPY sources use.

/// The patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<(String, bool)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if !pattern.is_empty() {
                patterns.push((pattern, exception));
            }
        }
        Ignore { patterns }
    }

    /// Whether the context path `path` (relative, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let mut excluded = false;
        for (pattern, exception) in &self.patterns {
            if matches_or_parent(pattern, &path) {
                excluded = !exception;
            }
        }
        excluded
    }

    /// Whether an exception could bring back something below the directory `dir`, so a
    /// walk must look inside it although it is excluded.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.patterns.iter().any(|(p, exception)| {
            *exception && (p.starts_with(&format!("{dir}/")) || p.contains("**"))
        })
    }
}

/// Lexically cleaned, relative: no leading `/` or `./`, no `.` or empty components, `..`
/// resolved (and dropped at the top).
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn matches_or_parent(pattern: &str, path: &str) -> bool {
    if glob(pattern, path) {
        return true;
    }
    let mut at = path.len();
    while let Some(slash) = path[..at].rfind('/') {
        if glob(pattern, &path[..slash]) {
            return true;
        }
        at = slash;
    }
    false
}

/// Shell-style match of a whole `/`-separated path: `*` and `?` within one component,
/// `[…]` classes (`[!…]`/`[^…]` negated), `**` across components, `\` escaping.
pub fn glob(pattern: &str, path: &str) -> bool {
    glob_bytes(pattern.as_bytes(), path.as_bytes())
}

fn glob_bytes(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = &p[2..];
            match rest.strip_prefix(b"/") {
                // `**/`: no directory at all, or any run of whole components.
                Some(after) => {
                    glob_bytes(after, s)
                        || (0..s.len()).any(|i| s[i] == b'/' && glob_bytes(after, &s[i + 1..]))
                }
                None => (0..=s.len()).any(|i| glob_bytes(rest, &s[i..])),
            }
        }
        Some(b'*') => {
            let rest = &p[1..];
            let mut i = 0;
            loop {
                if glob_bytes(rest, &s[i..]) {
                    return true;
                }
                if i >= s.len() || s[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        Some(b'?') => s.first().is_some_and(|c| *c != b'/') && glob_bytes(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some((matched, used)) = class(&p[1..], s.first().copied()) else {
                return s.first() == Some(&b'[') && glob_bytes(&p[1..], &s[1..]);
            };
            matched && glob_bytes(&p[1 + used..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob_bytes(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob_bytes(&p[1..], &s[1..]),
    }
}

/// A `[…]` class after its `[`: whether `c` is in it, and how many pattern bytes it took.
fn class(p: &[u8], c: Option<u8>) -> Option<(bool, usize)> {
    let c = c?;
    if c == b'/' {
        return Some((false, p.iter().position(|b| *b == b']')? + 1));
    }
    let mut i = 0;
    let negated = matches!(p.first(), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((found != negated, i + 1));
        }
        first = false;
        let lo = p[i];
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|b| *b != b']') {
            let hi = p[i + 2];
            found |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*.txt", "a.txt"));
        assert!(!glob("*.txt", "d/a.txt"));
        assert!(glob("**/*.txt", "d/e/a.txt"));
        assert!(glob("**/*.txt", "a.txt"));
        assert!(glob("d/**", "d/e/f"));
        assert!(glob("fil?", "file"));
        assert!(glob("[a-c]x", "bx"));
        assert!(!glob("[!a-c]x", "bx"));
        assert!(!glob("a?b", "a/b"));
    }

    #[test]
    fn dockerignore_with_exceptions() {
        let ignore = Ignore::parse("# comment\n*.log\n/secret\nbuild\n!build/keep.txt\n**/tmp\n");
        assert!(ignore.excludes("a.log"));
        assert!(!ignore.excludes("d/a.log"));
        assert!(ignore.excludes("secret"));
        assert!(ignore.excludes("secret/inner"));
        assert!(ignore.excludes("build/x.o"));
        assert!(!ignore.excludes("build/keep.txt"));
        assert!(ignore.excludes("deep/er/tmp/x"));
        assert!(!ignore.excludes("src/main.rs"));
        assert!(ignore.may_include_below("build"));
        assert!(!ignore.may_include_below("secret"));
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("/a/./b//c/"), "a/b/c");
        assert_eq!(clean("../a"), "a");
        assert_eq!(clean("a/../../b"), "b");
    }
}
