//! `/api/v1/config`: the configuration as one document (what `homewatch export` writes), and applying a
//! document (what `homewatch apply` does): a plan field by field, `dry_run` to only see it, `prune` to delete
//! what the document does not name, one transaction.

use poem::{Request, RequestBody, error::ReadBodyError};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, Object, OpenApi,
    param::Query,
    payload::Json,
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};

use super::{StoreData, TilesData, pages::FacesData, problem::ApiError, security::Writer};
use crate::{
    config::ImportSource,
    manifest::{self, Action, Current, Manifest, PlannedChange, load},
    model::FieldError,
};

/// What an apply found and did.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ConfigPlan {
    /// Whether the changes were made (false for a dry run, or when there was nothing to change).
    pub applied: bool,
    pub created: u32,
    pub changed: u32,
    pub deleted: u32,
    /// Each object created, changed (with its fields) or deleted, in the order they are made.
    pub changes: Vec<PlannedChange>,
}

/// Something an import left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ImportSkipped {
    /// The service, endpoint or monitor, with its group.
    pub item: String,
    /// A field, or the whole item.
    pub what: String,
    pub why: String,
}

/// What an import read, what it could not map, and the plan (carried out unless `dry_run`).
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ImportResult {
    pub groups: u32,
    pub tiles: u32,
    /// Everything that was not imported, with why.
    pub skipped: Vec<ImportSkipped>,
    pub plan: ConfigPlan,
}

/// A body of at most `load::MAX_BYTES`; `what` names it in the answer.
async fn read_limited(body: poem::Body, what: &str) -> Result<bytes::Bytes, ApiError> {
    body.into_bytes_limit(load::MAX_BYTES)
        .await
        .map_err(|err| match err {
            ReadBodyError::PayloadTooLarge => {
                ApiError::too_large(format!("the {what} is larger than {} bytes", load::MAX_BYTES))
            }
            other => ApiError::bad_request(format!("could not read the request body: {other}")),
        })
}

/// Another tool's file as uploaded: any media type, at most 8 MiB.
pub struct UploadBody {
    bytes: Vec<u8>,
}

impl<'a> ApiExtractor<'a> for UploadBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "The file as it is: Homepage's services.yaml, Gatus' config.yaml, Uptime Kuma's kuma.db or its JSON backup.",
            ),
            content: vec![MetaMediaType {
                content_type: "application/octet-stream",
                schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary"))),
            }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let bytes = read_limited(body.take()?, "file").await?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request("the body is empty: send the file to import").into());
        }
        Ok(Self {
            bytes: bytes.to_vec(),
        })
    }
}

/// A document in the request body: JSON (`application/json`) or YAML (`application/yaml`).
pub struct DocumentBody {
    text: String,
}

fn media(content_type: Option<&str>) -> Option<&'static str> {
    let mime: mime::Mime = content_type?.parse().ok()?;
    match (
        mime.type_().as_str(),
        mime.subtype().as_str(),
        mime.suffix().map(|s| s.as_str()),
    ) {
        ("application", "json", _) | ("application", _, Some("json")) => Some("json"),
        ("application", "yaml" | "x-yaml", _) | ("text", "yaml" | "x-yaml", _) => Some("yaml"),
        _ => None,
    }
}

impl<'a> ApiExtractor<'a> for DocumentBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        Manifest::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("The document, as JSON or as YAML text."),
            content: vec![
                MetaMediaType {
                    content_type: "application/json",
                    schema: Manifest::schema_ref(),
                },
                MetaMediaType {
                    content_type: "application/yaml",
                    // The YAML file as it is (bytes of UTF-8 text), so generated clients send a file's content.
                    schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary"))),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        if media(request.content_type()).is_none() {
            return Err(ApiError::unsupported_media_type(
                "send the document as `application/json` or `application/yaml`",
            )
            .into());
        }
        let bytes = read_limited(body.take()?, "document").await?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::bad_request("the document is not UTF-8 text"))?;
        Ok(Self { text })
    }
}

fn problems(list: Vec<load::Problem>) -> ApiError {
    ApiError::invalid(
        list.into_iter()
            .map(|p| {
                let message = match p.line {
                    Some(line) => format!("{} (line {line})", p.message),
                    None => p.message,
                };
                FieldError::new(p.field, message)
            })
            .collect(),
    )
}

fn answer(plan: manifest::Plan, applied: bool) -> ConfigPlan {
    let count = |action| u32::try_from(plan.count(action)).unwrap_or(u32::MAX);
    ConfigPlan {
        applied,
        created: count(Action::Create),
        changed: count(Action::Change),
        deleted: count(Action::Delete),
        changes: plan.changes,
    }
}

pub struct ConfigApi;

#[OpenApi(tag = "super::ApiTags::Config")]
impl ConfigApi {
    /// Everything configured — groups, tiles and checks, channels, maintenance windows, status pages — as one
    /// document by names (what `homewatch export` writes). Secrets are `${HOMEWATCH_SECRET_…}` references
    /// unless `include_secrets` (admins only).
    #[oai(path = "/config", method = "get", operation_id = "exportConfig")]
    async fn export(
        &self,
        caller: Writer,
        store: StoreData<'_>,
        include_secrets: Query<Option<bool>>,
    ) -> Result<Json<Manifest>, ApiError> {
        let include = include_secrets.0.unwrap_or(false);
        if include && !caller.is_admin() {
            return Err(ApiError::forbidden("only admins may export secrets in clear"));
        }
        let manifest = manifest::export(store.0.as_ref()).await?;
        Ok(Json(match include {
            true => manifest,
            false => manifest.with_secret_references().0,
        }))
    }

    /// Makes the store match a document (JSON, or YAML with `Content-Type: application/yaml`): answers the
    /// plan, field by field, and carries it out in one transaction unless `dry_run`. Nothing is deleted unless
    /// `prune`. `${HOMEWATCH_SECRET_…}` references take the server's environment variables of those names.
    #[oai(path = "/config/apply", method = "post", operation_id = "applyConfig")]
    #[allow(clippy::too_many_arguments)] // each query parameter is an argument: that is how the spec is made
    async fn apply(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        faces: FacesData<'_>,
        /// Only plan; change nothing (default false).
        dry_run: Query<Option<bool>>,
        /// Also delete what the document does not name (default false).
        prune: Query<Option<bool>>,
        body: DocumentBody,
    ) -> Result<Json<ConfigPlan>, ApiError> {
        let (checked, located) = load::load(&body.text, "(body)", &load::process_env).map_err(problems)?;
        let current = Current::read(store.0.as_ref()).await?;
        let plan = manifest::plan(&checked, &current, prune.0.unwrap_or(false))
            .map_err(|errors| problems(load::locate(&located, "(body)", errors)))?;
        let apply = !dry_run.0.unwrap_or(false) && !plan.is_empty();
        if apply {
            store.0.apply_config(&plan.ops()).await?;
            tiles.engine().reload_all();
            tiles.engine().reload_maintenance();
            faces.changed();
        }
        Ok(Json(answer(plan, apply)))
    }

    /// Imports another tool's configuration (Homepage's services.yaml, Gatus' config.yaml, Uptime Kuma's
    /// kuma.db or JSON backup): answers what it read, what it could not map and why, and the plan, which it
    /// carries out unless `dry_run`. Nothing is ever deleted, and importing again adds nothing twice.
    #[oai(path = "/config/import", method = "post", operation_id = "importConfig")]
    #[allow(clippy::too_many_arguments)] // each query parameter is an argument: that is how the spec is made
    async fn import(
        &self,
        _caller: Writer,
        store: StoreData<'_>,
        tiles: TilesData<'_>,
        faces: FacesData<'_>,
        /// The tool the file comes from.
        from: Query<ImportSource>,
        /// Only plan; change nothing (default false).
        dry_run: Query<Option<bool>>,
        body: UploadBody,
    ) -> Result<Json<ImportResult>, ApiError> {
        let imported = manifest::import::read_bytes(from.0, &body.bytes, "the file")
            .await
            .map_err(|message| ApiError::invalid(vec![FieldError::new("(body)", message)]))?;
        let groups = u32::try_from(imported.manifest.groups.len()).unwrap_or(u32::MAX);
        let tile_count: usize = imported.manifest.groups.iter().map(|g| g.tiles.len()).sum();
        let skipped = imported
            .report
            .iter()
            .map(|s| ImportSkipped {
                item: s.item.clone(),
                what: s.what.clone(),
                why: s.why.clone(),
            })
            .collect();
        let checked = manifest::check(imported.manifest).map_err(ApiError::invalid)?;
        let current = Current::read(store.0.as_ref()).await?;
        let plan = manifest::plan(&checked, &current, false).map_err(ApiError::invalid)?;
        let apply = !dry_run.0.unwrap_or(false) && !plan.is_empty();
        if apply {
            store.0.apply_config(&plan.ops()).await?;
            tiles.engine().reload_all();
            faces.changed();
        }
        Ok(Json(ImportResult {
            groups,
            tiles: u32::try_from(tile_count).unwrap_or(u32::MAX),
            skipped,
            plan: answer(plan, apply),
        }))
    }
}
