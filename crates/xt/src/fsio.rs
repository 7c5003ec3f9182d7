//! Writing a snapshot's files without ever leaving them half-written.

use std::io::Write;
use std::path::Path;

/// Writes `data` to `path` atomically: a temporary file in the same directory, fsynced, then
/// renamed over `path`. With `backup`, the previous content is first copied to `path.bak`.
pub fn write_atomic(path: &Path, data: &[u8], backup: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if backup && path.exists() {
        let bak = dir.join(format!("{name}.bak"));
        let old = std::fs::read(path)?;
        write_atomic(&bak, &old, false)?;
    }
    let tmp = dir.join(format!(".{name}.nfwalk-tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}
