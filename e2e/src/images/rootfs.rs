//! The files of a `FROM scratch` image: host binaries plus the shared libraries they load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Files keyed by their path inside the image.
#[derive(Debug, Default, Clone)]
pub struct RootFs {
    files: BTreeMap<String, PathBuf>,
}

impl RootFs {
    /// Adds `host` at `target`, with every shared library `ldd` lists at its own path.
    pub fn binary(mut self, host: &Path, target: &str) -> Result<Self> {
        let resolved = std::fs::canonicalize(host).map_err(Error::io(host))?;
        self.files.insert(target.to_owned(), resolved.clone());
        for library in shared_libraries(&resolved)? {
            self.files.insert(
                library.to_string_lossy().into_owned(),
                std::fs::canonicalize(&library).map_err(Error::io(&library))?,
            );
        }
        Ok(self)
    }

    /// Adds every file of a host directory under `target` (plugins loaded with `dlopen`, which
    /// `ldd` cannot see), with their libraries.
    pub fn directory(mut self, host: &Path, target: &str) -> Result<Self> {
        let entries = std::fs::read_dir(host).map_err(Error::io(host))?;
        for entry in entries {
            let path = entry.map_err(Error::io(host))?.path();
            if let (true, Some(name)) = (path.is_file(), path.file_name()) {
                self = self.binary(&path, &format!("{target}/{}", name.to_string_lossy()))?;
            }
        }
        Ok(self)
    }

    pub fn files(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.files.iter().map(|(target, host)| (target.as_str(), host.as_path()))
    }

    /// A hash of every file's path and content and of the Dockerfile: the image tag.
    pub(crate) fn content_hash(&self, dockerfile: &str) -> Result<String> {
        let mut hasher = Sha256::new();
        hasher.update(dockerfile.as_bytes());
        for (target, host) in &self.files {
            hasher.update(target.as_bytes());
            let mut file = std::fs::File::open(host).map_err(Error::io(host))?;
            std::io::copy(&mut file, &mut hasher).map_err(Error::io(host))?;
        }
        Ok(format!("{:x}", hasher.finalize())[..16].to_owned())
    }
}

/// The absolute paths `ldd` prints for `binary`.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new("ldd").arg(binary).output().map_err(|error| Error::Prerequisite {
        what: format!("ldd cannot run ({error})"),
        fix: "install it (sudo apt-get install -y libc-bin)".to_owned(),
    })?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("not found") {
        return Err(Error::Setup(format!("{} needs libraries that are missing: {text}", binary.display())));
    }
    // "not a dynamic executable" (static binaries) prints nothing useful and fails; that is fine.
    Ok(parse_ldd(&text))
}

fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=>").map_or(line, |(_, right)| right.trim());
            let path = path.split(" (").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_yields_absolute_library_paths_only() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f80)\n";
        assert_eq!(
            parse_ldd(text),
            [PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")]
        );
    }
}
