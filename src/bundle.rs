//! The spec and the cases this binary was built with, embedded by the build script, so an
//! installed binary needs no checkout. They sit under a folder that exists nowhere on disk,
//! [`root`]: the loaders read a path below it from the binary and any other path from disk,
//! so `--spec-dir` and `--cases` override the embedded files with no other change.

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

/// Where the embedded files appear to be: `(bundled)/specs/openapi.yaml`.
pub fn root() -> &'static Path {
    Path::new("(bundled)")
}

/// Whether `path` is an embedded folder or file.
pub fn is_bundled(path: &Path) -> bool {
    path.starts_with(root())
}

/// The embedded file at `path` (below [`root`]), if there is one.
fn embedded(path: &Path) -> Option<&'static [u8]> {
    let name = path.strip_prefix(root()).ok()?;
    FILES
        .iter()
        .find(|(file, _)| Path::new(file) == name)
        .map(|(_, bytes)| *bytes)
}

/// Reads a file, embedded or on disk.
pub fn read_to_string(path: &Path) -> std::io::Result<String> {
    if !is_bundled(path) {
        return std::fs::read_to_string(path);
    }
    let bytes = embedded(path).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "not embedded in this binary")
    })?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Every file below `dir`, embedded or on disk, whose extension is one of `extensions`.
pub fn files_below(dir: &Path, extensions: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let wanted = |path: &Path| {
        path.extension()
            .is_some_and(|e| extensions.iter().any(|x| e == *x))
    };
    let mut out = Vec::new();
    if is_bundled(dir) {
        let below = dir.strip_prefix(root()).unwrap_or(dir);
        out.extend(
            FILES
                .iter()
                .map(|(file, _)| Path::new(file))
                .filter(|file| file.starts_with(below) && wanted(file))
                .map(|file| root().join(file)),
        );
        if out.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not embedded in this binary",
            ));
        }
        return Ok(out);
    }
    fn walk(
        dir: &Path,
        wanted: &dyn Fn(&Path) -> bool,
        out: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, wanted, out)?;
            } else if wanted(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    walk(dir, &wanted, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_bundled_folders_is_embedded_byte_for_byte() {
        let package = Path::new(env!("CARGO_MANIFEST_DIR"));
        for folder in ["specs", "cases"] {
            let on_disk =
                files_below(&package.join(folder), &["yaml", "yml", "json", "md"]).unwrap();
            assert!(!on_disk.is_empty());
            for file in on_disk {
                let relative = file.strip_prefix(package).unwrap();
                let embedded = read_to_string(&root().join(relative)).unwrap();
                assert_eq!(
                    embedded,
                    std::fs::read_to_string(&file).unwrap(),
                    "{relative:?}"
                );
            }
        }
    }

    #[test]
    fn the_embedded_cases_are_listed_and_a_missing_file_is_not_found() {
        let cases = files_below(&root().join("cases"), &["yaml", "yml"]).unwrap();
        assert!(cases.iter().all(|c| c.starts_with(root().join("cases"))));
        assert!(cases.len() > 10, "{cases:?}");
        let missing = read_to_string(&root().join("specs/nothing.yaml")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert!(files_below(&root().join("nothing"), &["yaml"]).is_err());
    }
}
