//! GraphQL multipart requests (file uploads, the graphql-multipart-request spec).
//!
//! The GraphQL route authenticates the caller from the headers before it asks for a byte
//! of the body (an anonymous or refused caller gets its answer at once, so an upload costs
//! an unauthenticated client nothing but the headers). Then the body streams through: the
//! `operations` and `map` parts under the plain GraphQL body limit, each file to a
//! temporary file (never whole in memory) under the upload limit, at most a few files.

use poem::Body;
use vitrine_core::ErrorCode;

/// Files in one request.
const MAX_FILES: usize = 4;

/// Why a multipart body was refused: the code and the message for the client.
pub(super) type Refusal = (ErrorCode, String);

fn refusal(e: multer::Error) -> Refusal {
    match e {
        multer::Error::FieldSizeExceeded { limit, field_name } => (
            ErrorCode::QueryTooLarge,
            format!(
                "part `{}` exceeds {limit} bytes",
                field_name.unwrap_or_default()
            ),
        ),
        multer::Error::StreamSizeExceeded { limit } => (
            ErrorCode::QueryTooLarge,
            format!("the upload exceeds {limit} bytes"),
        ),
        other if crate::guard::is_too_large(&other) => (
            ErrorCode::QueryTooLarge,
            "the request body is too large".to_owned(),
        ),
        other => (
            ErrorCode::InvalidInput,
            format!("not a GraphQL multipart request: {other}"),
        ),
    }
}

/// The GraphQL request(s) of a multipart body, files spooled to temporary files.
pub(super) async fn read(
    body: Body,
    content_type: &str,
    max_operations: usize,
) -> Result<async_graphql::BatchRequest, Refusal> {
    let boundary = multer::parse_boundary(content_type).map_err(refusal)?;
    let max_file = vitrine_api::services::MAX_UPLOAD_BYTES as u64;
    let small = max_operations as u64;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max_file * MAX_FILES as u64 + 2 * small)
            .per_field(max_file)
            .for_field("operations", small)
            .for_field("map", small),
    );
    let mut multipart =
        multer::Multipart::with_constraints(body.into_bytes_stream(), boundary, constraints);
    let mut operations = None;
    let mut map: Option<std::collections::HashMap<String, Vec<String>>> = None;
    let mut files = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(refusal)? {
        match field.name() {
            Some("operations") => {
                let bytes = field.bytes().await.map_err(refusal)?;
                operations = Some(
                    serde_json::from_slice::<async_graphql::BatchRequest>(&bytes).map_err(|e| {
                        (
                            ErrorCode::InvalidInput,
                            format!("operations: not a GraphQL request: {e}"),
                        )
                    })?,
                );
            }
            Some("map") => {
                let bytes = field.bytes().await.map_err(refusal)?;
                map = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    (
                        ErrorCode::InvalidInput,
                        format!("map: not a JSON map of files to variables: {e}"),
                    )
                })?);
            }
            Some(name) => {
                let name = name.to_owned();
                let Some(filename) = field.file_name().map(str::to_owned) else {
                    return Err((
                        ErrorCode::InvalidInput,
                        format!("part `{name}` is neither operations, map nor a file"),
                    ));
                };
                if files.len() >= MAX_FILES {
                    return Err((
                        ErrorCode::QueryTooLarge,
                        format!("at most {MAX_FILES} files per request"),
                    ));
                }
                let content_type = field.content_type().map(ToString::to_string);
                let spool = |e: std::io::Error| {
                    (
                        ErrorCode::Unavailable,
                        format!("cannot keep the upload in a temporary file: {e}"),
                    )
                };
                let file = tempfile::tempfile().map_err(spool)?;
                let mut out = tokio::fs::File::from_std(file);
                while let Some(chunk) = field.chunk().await.map_err(refusal)? {
                    tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                        .await
                        .map_err(spool)?;
                }
                let mut file = out.into_std().await;
                std::io::Seek::rewind(&mut file).map_err(spool)?;
                files.push((name, filename, content_type, file));
            }
            None => {
                return Err((ErrorCode::InvalidInput, "a part without a name".to_owned()));
            }
        }
    }
    let mut request = operations.ok_or((
        ErrorCode::InvalidInput,
        "the `operations` part is missing".to_owned(),
    ))?;
    let mut map = map.ok_or((
        ErrorCode::InvalidInput,
        "the `map` part is missing".to_owned(),
    ))?;
    for (name, filename, content_type, content) in files {
        let Some(paths) = map.remove(&name) else {
            continue;
        };
        let upload = async_graphql::UploadValue {
            filename,
            content_type,
            content,
        };
        for path in paths {
            let value = upload.try_clone().map_err(|e| {
                (
                    ErrorCode::Unavailable,
                    format!("cannot read the upload: {e}"),
                )
            })?;
            match &mut request {
                async_graphql::BatchRequest::Single(r) => r.set_upload(&path, value),
                async_graphql::BatchRequest::Batch(rs) => {
                    if let Some((i, rest)) = path.split_once('.')
                        && let Some(r) = i.parse::<usize>().ok().and_then(|i| rs.get_mut(i))
                    {
                        r.set_upload(rest, value);
                    }
                }
            }
        }
    }
    if let Some(name) = map.keys().next() {
        return Err((
            ErrorCode::InvalidInput,
            format!("the map names file `{name}`, which the request does not hold"),
        ));
    }
    Ok(request)
}
