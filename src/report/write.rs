//! Report files written whole or not at all.

/// Writes a report whole or not at all: into a temporary file beside it, renamed over it once
/// complete, so a run killed while writing never leaves a cut report. Creates the folder.
pub fn create(path: &std::path::Path, text: &str) -> Result<(), String> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder {
        std::fs::create_dir_all(folder)
            .map_err(|e| format!("{}: cannot create the folder: {e}", folder.display()))?;
    }
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let temporary = folder
        .unwrap_or_else(|| std::path::Path::new("."))
        .join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(|e| format!("{}: cannot write the report: {e}", path.display()))
}

/// Fails now, before anything runs, if a report could not be written, without touching it.
pub fn check_writable(path: &std::path::Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{}: cannot write the report: it is a folder",
            path.display()
        ));
    }
    let probe = path.with_file_name(format!(".conformance-probe.{}", std::process::id()));
    create(&probe, "")?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
