//! Entry names from a layer tarball, made into paths that cannot leave the layer.

use std::fmt;

/// A path inside a layer: clean components, none of them `.`, `..` or empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerPath(Vec<Vec<u8>>);

/// The name climbed above the layer root with `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escapes;

impl LayerPath {
    /// Absolute names are taken relative to the layer root, as real images need;
    /// `..` is resolved lexically and must stay inside.
    pub fn parse(name: &[u8]) -> Result<LayerPath, Escapes> {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        for part in name.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop().ok_or(Escapes)?;
                }
                other => parts.push(other.to_vec()),
            }
        }
        Ok(LayerPath(parts))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Parent components and the last one; `None` for the root.
    pub fn split_last(&self) -> Option<(&[Vec<u8>], &[u8])> {
        self.0
            .split_last()
            .map(|(last, parent)| (parent, last.as_slice()))
    }

    pub fn components(&self) -> &[Vec<u8>] {
        &self.0
    }
}

impl fmt::Display for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for part in &self.0 {
            write!(f, "/{}", String::from_utf8_lossy(part))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> Vec<String> {
        LayerPath::parse(name.as_bytes())
            .unwrap()
            .components()
            .iter()
            .map(|p| String::from_utf8(p.clone()).unwrap())
            .collect()
    }

    #[test]
    fn absolute_and_dotted_names_stay_inside() {
        assert_eq!(parts("/bin/sh"), ["bin", "sh"]);
        assert_eq!(parts("./a/./b/"), ["a", "b"]);
        assert_eq!(parts("a/../b"), ["b"]);
        assert!(LayerPath::parse(b"./").unwrap().is_root());
    }

    #[test]
    fn climbing_out_is_refused() {
        assert_eq!(LayerPath::parse(b"../x"), Err(Escapes));
        assert_eq!(LayerPath::parse(b"a/../../x"), Err(Escapes));
        assert_eq!(LayerPath::parse(b"/../x"), Err(Escapes));
    }
}
