//! Where a resource is written in the Terraform sources, so that code scanning can put a
//! violation on the line that declares it.

use std::collections::HashMap;
use std::path::Path;

/// A file and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

/// `resource "TYPE" "NAME"` blocks of one directory's `.tf` files, by `TYPE.NAME`.
#[derive(Debug, Clone, Default)]
pub struct SourceIndex {
    blocks: HashMap<String, Location>,
}

impl SourceIndex {
    /// Reads `dir/*.tf`. Paths are given as `dir` joined with the file name, so that a relative
    /// `dir` gives repository-relative paths.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let files = crate::config::tf_files(dir)?;
        let mut blocks = HashMap::new();
        for path in files {
            let text = std::fs::read_to_string(&path)?;
            let file = path.to_string_lossy().replace('\\', "/");
            for (index, line) in text.lines().enumerate() {
                if let Some(address) = declared_resource(line) {
                    blocks.entry(address).or_insert(Location { file: file.clone(), line: index + 1 });
                }
            }
        }
        Ok(Self { blocks })
    }

    /// The block of `address`, module prefix and instance key aside.
    pub fn find(&self, address: &str) -> Option<&Location> {
        let without_key = address.split('[').next().unwrap_or(address);
        let parts: Vec<&str> = without_key.split('.').collect();
        let local = parts[parts.len().saturating_sub(2)..].join(".");
        self.blocks.get(&local)
    }
}

/// `TYPE.NAME` when `line` opens `resource "TYPE" "NAME" {`.
fn declared_resource(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("resource")?;
    let mut labels = rest.split('"').skip(1).step_by(2);
    let (kind, name) = (labels.next()?, labels.next()?);
    Some(format!("{kind}.{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_blocks_are_found_by_address_with_or_without_module_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("db.tf"), "# Redis\n\nresource \"scaleway_redis_cluster\" \"main\" {\n}\n")
            .unwrap();
        let index = SourceIndex::load(dir.path()).unwrap();
        for address in
            ["scaleway_redis_cluster.main", "module.data.scaleway_redis_cluster.main", "scaleway_redis_cluster.main[0]"]
        {
            let found = index.find(address).unwrap();
            assert!(found.file.ends_with("/db.tf"), "{found:?}");
            assert_eq!(found.line, 3, "{address}");
        }
        assert!(index.find("scaleway_vpc.main").is_none());
    }
}
