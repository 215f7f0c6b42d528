//! Report files written whole or not at all.

use std::io;
use std::path::{Path, PathBuf};

/// Why a report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{}: cannot create the folder: {source}", folder.display())]
    Folder { folder: PathBuf, source: io::Error },
    #[error("{}: cannot write the report: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("{}: cannot write the report: it is a folder", path.display())]
    IsFolder { path: PathBuf },
}

/// Writes a report whole or not at all: into a temporary file beside it, renamed over it once
/// complete, so a run killed while writing never leaves a cut report. Creates the folder.
pub fn create(path: &Path, text: &str) -> Result<(), WriteError> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder {
        std::fs::create_dir_all(folder).map_err(|source| WriteError::Folder {
            folder: folder.to_owned(),
            source,
        })?;
    }
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let temporary = folder
        .unwrap_or_else(|| Path::new("."))
        .join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(|source| WriteError::File {
        path: path.to_owned(),
        source,
    })
}

/// Fails now, before anything runs, if a report could not be written, without touching it.
pub fn check_writable(path: &Path) -> Result<(), WriteError> {
    if path.is_dir() {
        return Err(WriteError::IsFolder {
            path: path.to_owned(),
        });
    }
    let probe = path.with_file_name(format!(".conformance-probe.{}", std::process::id()));
    create(&probe, "")?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cannot_be_written_says_where_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("report.json");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(
            check_writable(&folder).unwrap_err().to_string(),
            format!(
                "{}: cannot write the report: it is a folder",
                folder.display()
            )
        );
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        let error = create(&file.join("report.json"), "{}").unwrap_err();
        assert!(matches!(error, WriteError::Folder { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: cannot create the folder: ", file.display())),
            "{error}"
        );
        create(&dir.path().join("new/report.json"), "{}").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new/report.json")).unwrap(),
            "{}"
        );
    }
}
