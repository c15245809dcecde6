//! Front-end files compiled into the binary: the tile drawing code, style and vendored
//! libraries that both the server's share viewer and report files use (report files are
//! built here, so the files live with this crate; the server serves them under
//! `/assets/`). See `assets/vendor/README.md` for where each vendored file comes from.

pub const VIEWER_CSS: &str = include_str!("../assets/viewer.css");
pub const TILES_JS: &str = include_str!("../assets/tiles.js");
pub const CHART_JS: &str = include_str!("../assets/vendor/chart.umd.min.js");
/// Argon2id in WebAssembly, for report files that derive their key in the browser.
pub const ARGON2_JS: &str = include_str!("../assets/vendor/argon2.umd.min.js");
pub const REPORT_FILE_JS: &str = include_str!("../assets/report_file.js");
