//! Report files: one report and the data its tiles show, as a single HTML file that
//! opens in any browser with no server and no Vitrine install. The tiles are computed
//! for the caller (their access filters apply; report filters at their defaults), so a
//! file never holds more than its maker could see.
//!
//! With a password, the report is encrypted with AES-256-GCM under a key derived with
//! Argon2id (19 MiB, 2 passes, random salt); the page derives the same key with
//! hash-wasm and decrypts with WebCrypto. The cipher's tag makes a wrong password and an
//! altered file fail alike, and nothing readable is left in the file but a generic title.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::TryRngCore;
use serde_json::{Value, json};
use std::sync::Arc;
use vitrine_core::AuditAction;
use vitrine_core::{Ability, Password};
use vitrine_engine::QueryResult;
use vitrine_engine::report::{FilterState, ReportDefinition};
use vitrine_storage::{ExportRecord, now_ms};

use super::Versions;
use super::bundles::safe_name;
use crate::assets::{ARGON2_JS, CHART_JS, REPORT_FILE_JS, TILES_JS, VIEWER_CSS};
use crate::caller::Caller;
use crate::{ApiError, ApiResult};

/// Argon2id cost of the key: OWASP's minimum, as for sign-in passwords. The browser pays
/// it once per opening (about a second in WebAssembly).
const KDF_MEMORY_KIB: u32 = 19 * 1024;
const KDF_PASSES: u32 = 2;
/// Bound to the ciphertext, so a file of another kind cannot be passed off as this one.
const AAD: &str = "vitrine-report-file v1";

impl Versions {
    /// Builds the report file of `report_uid` for the caller (who needs the project's
    /// download ability) and keeps it for download.
    pub async fn export_report_file(
        &self,
        caller: &Caller,
        report_uid: &str,
        password: Option<&str>,
    ) -> ApiResult<ExportRecord> {
        let report_uid = &vitrine_core::ReportId::from(report_uid);
        let password = password
            .map(|p| Password::parse("password", p))
            .transpose()?;
        let (r, p) = self.data.report(caller, report_uid).await?;
        if !self.data.ability_on(&p, Ability::Download) {
            return Err(ApiError::forbidden(
                "downloads are switched off for this project",
            ));
        }
        let def = r.definition.clone();
        let state = FilterState::new();
        let mut tiles = serde_json::Map::new();
        for tile in def.tabs.iter().flat_map(|t| t.tiles.iter()) {
            let result = self
                .data
                .tile_result(caller, report_uid, &tile.id, &state)
                .await;
            tiles.insert(tile.id.clone(), tile_entry(result)?);
        }
        let content = FileContent {
            report_name: &r.name,
            project_name: &p.record.name,
            made_for: &caller.user().username,
            definition: &def,
            tiles,
        };
        let protected = password.is_some();
        let html = report_file_page(content, password).await?;
        let filename = format!("{}.html", safe_name(&r.name));
        let record = self
            .keep_export(
                caller,
                &r.project_uid,
                &filename,
                "text/html; charset=utf-8",
                html.into_bytes(),
            )
            .await?;
        self.audit
            .record(
                caller,
                AuditAction::ReportExportFile,
                &format!("report:{report_uid}"),
                "ok",
                if protected {
                    "password-protected"
                } else {
                    "plain"
                },
            )
            .await?;
        Ok(record)
    }
}

/// What a report file holds: the report's definition and, per tile, its rows (or why
/// there are none), computed for whoever the file is made for.
pub(crate) struct FileContent<'a> {
    pub report_name: &'a str,
    pub project_name: &'a str,
    /// Whose view the tiles show: a user's name, or a link recipient's.
    pub made_for: &'a str,
    pub definition: &'a ReportDefinition,
    pub tiles: serde_json::Map<String, Value>,
}

/// One tile's entry in a report file: its rows, or the reason it has none (one tile
/// without data — not run yet, or refused — does not sink the file).
pub(crate) fn tile_entry(result: ApiResult<Arc<QueryResult>>) -> ApiResult<Value> {
    Ok(match result {
        Ok(res) => json!({
            "columns": res.columns(),
            "rows": res.json_rows()?,
            "truncated": res.truncated,
        }),
        Err(e) => json!({ "error": e.message }),
    })
}

/// The HTML page of a report file, sealed under `password` when one is given.
pub(crate) async fn report_file_page(
    c: FileContent<'_>,
    password: Option<Password>,
) -> ApiResult<String> {
    let def = c.definition;
    let filters: Vec<String> = def
        .filters
        .iter()
        .map(|f| {
            if f.default.is_empty() {
                format!("{}: all", f.label)
            } else {
                let values: Vec<String> = f
                    .default
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect();
                format!("{}: {}", f.label, values.join(", "))
            }
        })
        .collect();
    let report = json!({
        "report_name": c.report_name,
        "project_name": c.project_name,
        "created_ms": now_ms(),
        "created_by": c.made_for,
        "definition": def,
        "filters": filters,
        "tiles": c.tiles,
    });
    let sealed = match &password {
        None => json!({ "title": c.report_name, "report": report }),
        Some(pw) => {
            let pw = pw.expose().to_owned();
            tokio::task::spawn_blocking(move || seal(&report, &pw))
                .await
                .map_err(|e| ApiError::internal("report file", e))??
        }
    };
    let title = if password.is_some() {
        "Protected report"
    } else {
        c.report_name
    };
    Ok(page(title, &sealed, password.is_some()))
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .expect("operating system random source failed");
    b
}

/// The encrypted envelope the page opens.
fn seal(report: &Value, password: &str) -> ApiResult<Value> {
    let salt: [u8; 16] = random();
    let iv: [u8; 12] = random();
    let params = Params::new(KDF_MEMORY_KIB, KDF_PASSES, 1, Some(32))
        .map_err(|e| ApiError::internal("argon2 parameters", e))?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), &salt, &mut key)
        .map_err(|e| ApiError::internal("argon2", e))?;
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|e| ApiError::internal("aes", e))?;
    let plain = serde_json::to_vec(report).map_err(|e| ApiError::internal("report file", e))?;
    let data = cipher
        .encrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: &plain,
                aad: AAD.as_bytes(),
            },
        )
        .map_err(|e| ApiError::internal("aes", e))?;
    Ok(json!({
        "title": "Protected report",
        "kdf": {"alg": "argon2id", "m": KDF_MEMORY_KIB, "t": KDF_PASSES, "p": 1, "salt": B64.encode(salt)},
        "cipher": {"alg": "AES-256-GCM", "iv": B64.encode(iv), "aad": AAD},
        "data": B64.encode(data),
    }))
}

/// JSON safe inside a `<script>` element: no `<` can end it early.
fn script_json(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

/// Text safe inside HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole file: style, scripts and data inline, nothing fetched.
fn page(title: &str, sealed: &Value, encrypted: bool) -> String {
    let argon2 = if encrypted { ARGON2_JS } else { "" };
    // Scripts are inline (there is no server to fetch them from); the policy still
    // forbids every network request, so an opened file cannot call home.
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'unsafe-inline'; img-src data:\">\n\
<title>{title}</title>\n<style>{VIEWER_CSS}</style>\n</head>\n<body>\n\
<header id=\"toolbar\" hidden></header>\n<div id=\"gate\" hidden></div>\n<main id=\"content\"></main>\n\
<script type=\"application/json\" id=\"vitrine-report\">{data}</script>\n\
<script>{CHART_JS}</script>\n<script>{argon2}</script>\n<script>{TILES_JS}</script>\n<script>{REPORT_FILE_JS}</script>\n\
</body>\n</html>\n",
        title = escape(title),
        data = script_json(sealed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_reports_open_with_the_password_only() {
        let report = json!({"report_name": "R", "tiles": {}});
        let sealed = seal(&report, "a long enough password").unwrap();
        assert!(!sealed.to_string().contains("report_name"));
        let get = |k: &str| B64.decode(sealed[k].as_str().unwrap()).unwrap();
        let salt = B64.decode(sealed["kdf"]["salt"].as_str().unwrap()).unwrap();
        let iv = B64
            .decode(sealed["cipher"]["iv"].as_str().unwrap())
            .unwrap();
        let open = |pw: &str, data: &[u8]| {
            let params = Params::new(KDF_MEMORY_KIB, KDF_PASSES, 1, Some(32)).unwrap();
            let mut key = [0u8; 32];
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password_into(pw.as_bytes(), &salt, &mut key)
                .unwrap();
            Aes256Gcm::new_from_slice(&key)
                .unwrap()
                .decrypt(
                    Nonce::from_slice(&iv),
                    Payload {
                        msg: data,
                        aad: AAD.as_bytes(),
                    },
                )
                .ok()
        };
        let data = get("data");
        let plain = open("a long enough password", &data).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&plain).unwrap(), report);
        assert!(open("a wrong password here", &data).is_none());
        let mut altered = data.clone();
        altered[0] ^= 1;
        assert!(open("a long enough password", &altered).is_none());
    }

    #[test]
    fn data_cannot_end_its_script_element() {
        let v = json!({"title": "</script><script>alert(1)</script>"});
        assert!(!script_json(&v).contains("</script>"));
        assert!(page("<b>", &v, false).contains("<title>&lt;b&gt;</title>"));
    }
}
