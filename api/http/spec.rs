//! The OpenAPI document as clients get it. poem-openapi writes it from the code; this one step says what
//! poem-openapi cannot, so that generators (openapi-python-client, openapi-typescript) and schema-based
//! testers read it right:
//! - OpenAPI 3.1, where a value that may be null says so (`type: [.., "null"]`, or `anyOf` with a `$ref`);
//! - plain `$ref`s, without the `allOf: [{$ref}, {description}]` wrapper generators stumble on;
//! - a check as the union of its kinds, each with only its own fields (the server refuses the others);
//! - per operation, only the error statuses it can answer (every operation shares one error type in code).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::model::{
    CheckKind, DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS, TAG_MAX_CHARS, TAGS_MAX, URL_MAX_CHARS,
    account::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS},
    check::{
        HTTP_METHODS, MAX_HEADER_VALUE_CHARS, MAX_HEADERS, MAX_INTERVAL_S, MAX_KEYWORD_CHARS, MAX_RETRIES,
        MAX_TIMEOUT_S, MIN_INTERVAL_S, RECORD_TYPES,
    },
    patterns,
};

/// The error statuses each operation can answer, by operation id. 400, 413, 415 and 422 come with a body or
/// parameters; 401 and 403 with who may call it (403 also for a session's write from another site); 404 with
/// an id in the path or a reference to another resource; 409 with a rule on the current state; 429 with
/// login backoff; 503 whenever the database is needed.
const ERROR_STATUSES: &[(&str, &[u16])] = &[
    ("listGroups", &[401, 503]),
    ("createGroup", &[400, 401, 403, 409, 413, 415, 422, 503]),
    ("reorderGroups", &[400, 401, 403, 409, 413, 415, 422, 503]),
    ("getGroup", &[401, 404, 503]),
    ("updateGroup", &[400, 401, 403, 404, 409, 413, 415, 422, 503]),
    ("deleteGroup", &[401, 403, 404, 409, 422, 503]),
    ("listServices", &[401, 422, 503]),
    ("createService", &[400, 401, 403, 404, 409, 413, 415, 422, 503]),
    ("getService", &[401, 404, 503]),
    ("updateService", &[400, 401, 403, 404, 409, 413, 415, 422, 503]),
    ("deleteService", &[401, 403, 404, 503]),
    ("reorderServices", &[400, 401, 403, 404, 409, 413, 415, 422, 503]),
    ("getDashboard", &[401, 503]),
    ("checkService", &[401, 403, 404, 409, 503]),
    ("pauseService", &[401, 403, 404, 503]),
    ("resumeService", &[401, 403, 404, 503]),
    ("listResults", &[401, 404, 422, 503]),
    ("getStats", &[401, 404, 422, 503]),
    ("listIncidents", &[401, 422, 503]),
    ("streamEvents", &[401, 422]),
    ("getAuthState", &[503]),
    ("setup", &[400, 403, 409, 413, 415, 422, 429, 503]),
    ("login", &[400, 401, 403, 413, 415, 422, 429, 503]),
    ("logout", &[403, 503]),
    ("getMe", &[401, 503]),
    ("changePassword", &[400, 401, 403, 413, 415, 422, 429, 503]),
    ("listTokens", &[401, 503]),
    ("createToken", &[400, 401, 403, 413, 415, 422, 503]),
    ("revokeToken", &[401, 403, 404, 503]),
    ("listUsers", &[401, 403, 503]),
    ("createUser", &[400, 401, 403, 409, 413, 415, 422, 503]),
    ("getUser", &[401, 403, 404, 503]),
    ("updateUser", &[400, 401, 403, 404, 409, 413, 415, 422, 503]),
    ("deleteUser", &[401, 403, 404, 409, 503]),
    ("listChannels", &[401, 503]),
    ("createChannel", &[400, 401, 403, 409, 413, 415, 422, 503]),
    ("getChannel", &[401, 404, 503]),
    ("updateChannel", &[400, 401, 403, 404, 409, 413, 415, 422, 503]),
    ("deleteChannel", &[401, 403, 404, 503]),
    ("testChannel", &[401, 403, 404, 503]),
    ("listNotifications", &[401, 422, 503]),
    ("getNotification", &[401, 404, 503]),
    ("resendNotification", &[401, 403, 404, 409, 503]),
    ("listMaintenance", &[401, 503]),
    ("createMaintenance", &[400, 401, 403, 413, 415, 422, 503]),
    ("getMaintenance", &[401, 404, 503]),
    ("updateMaintenance", &[400, 401, 403, 404, 413, 415, 422, 503]),
    ("deleteMaintenance", &[401, 403, 404, 503]),
    ("push", &[400, 404, 409, 422, 429, 503]),
    ("pushPost", &[400, 404, 409, 422, 429, 503]),
    ("pushStart", &[404, 409, 429, 503]),
    ("pushStartPost", &[404, 409, 429, 503]),
    ("renewPushToken", &[401, 403, 404, 409, 503]),
    ("listStatusPages", &[401, 503]),
    ("createStatusPage", &[400, 401, 403, 409, 413, 415, 422, 503]),
    ("getStatusPage", &[401, 404, 503]),
    ("updateStatusPage", &[400, 401, 403, 404, 409, 413, 415, 422, 503]),
    ("deleteStatusPage", &[401, 403, 404, 503]),
    ("listPosts", &[401, 422, 503]),
    ("createPost", &[400, 401, 403, 413, 415, 422, 503]),
    ("getPost", &[401, 404, 503]),
    ("updatePost", &[400, 401, 403, 404, 413, 415, 422, 503]),
    ("deletePost", &[401, 403, 404, 503]),
    ("addPostUpdate", &[400, 401, 403, 404, 413, 415, 422, 503]),
    ("exportConfig", &[401, 403, 422, 503]),
    ("applyConfig", &[400, 401, 403, 409, 413, 415, 422, 503]),
    ("importConfig", &[400, 401, 403, 409, 413, 422, 503]),
];

/// The error statuses operation `operation_id` can answer (empty for an unknown operation).
pub fn error_statuses(operation_id: &str) -> &'static [u16] {
    ERROR_STATUSES
        .iter()
        .find(|(id, _)| *id == operation_id)
        .map_or(&[], |(_, statuses)| statuses)
}

/// The rules the server checks on a field, as JSON Schema keywords, from the same constants and patterns
/// the server checks with: (schema, property, keywords merged into the property's schema).
fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let name = json!({ "maxLength": NAME_MAX_CHARS, "pattern": patterns::NAME });
    let url = json!({ "format": "uri", "maxLength": URL_MAX_CHARS, "pattern": patterns::HTTP_URL });
    let icon = json!({
        "maxLength": URL_MAX_CHARS,
        "pattern": format!("^$|{}|{}", patterns::HTTP_URL, patterns::ICON_NAME),
    });
    let tags = json!({
        "maxItems": TAGS_MAX,
        "items": { "type": "string", "maxLength": TAG_MAX_CHARS, "pattern": patterns::TAG },
    });
    let description = json!({ "maxLength": DESCRIPTION_MAX_CHARS });
    let username = json!({ "pattern": patterns::USERNAME });
    let password = json!({ "minLength": PASSWORD_MIN_CHARS, "maxLength": PASSWORD_MAX_CHARS });
    let read_only = json!({ "readOnly": true });
    let mut rules = vec![
        ("NewGroup", "name", name.clone()),
        ("NewStatusPage", "slug", json!({ "pattern": patterns::SLUG })),
        ("StatusPagePatch", "slug", json!({ "pattern": patterns::SLUG })),
        ("NewStatusPage", "title", name.clone()),
        ("StatusPagePatch", "title", name.clone()),
        ("StatusSection", "name", name.clone()),
        ("NewStatusPage", "icon", icon.clone()),
        ("StatusPagePatch", "icon", icon.clone()),
        (
            "StatusSection",
            "services",
            json!({ "uniqueItems": true, "maxItems": crate::model::public::SECTION_TILES_MAX }),
        ),
        (
            "NewStatusPage",
            "sections",
            json!({ "maxItems": crate::model::public::SECTIONS_MAX }),
        ),
        (
            "StatusPagePatch",
            "sections",
            json!({ "maxItems": crate::model::public::SECTIONS_MAX }),
        ),
        (
            "NewPost",
            "services",
            json!({ "uniqueItems": true, "maxItems": crate::model::public::POST_TILES_MAX }),
        ),
        (
            "PostPatch",
            "services",
            json!({ "uniqueItems": true, "maxItems": crate::model::public::POST_TILES_MAX }),
        ),
        ("GroupPatch", "name", name.clone()),
        ("NewOrder", "ids", json!({ "uniqueItems": true })),
        ("NewToken", "name", name.clone()),
        (
            "SetupRequest",
            "token",
            json!({ "maxLength": crate::model::account::SETUP_TOKEN_MAX_CHARS }),
        ),
        ("SetupRequest", "username", username.clone()),
        (
            "LoginRequest",
            "username",
            json!({ "maxLength": crate::model::account::USERNAME_MAX_CHARS }),
        ),
        (
            "LoginRequest",
            "password",
            json!({ "maxLength": PASSWORD_MAX_CHARS }),
        ),
        (
            "PasswordChange",
            "current_password",
            json!({ "maxLength": PASSWORD_MAX_CHARS }),
        ),
        ("SetupRequest", "password", password.clone()),
        ("NewUser", "username", username),
        ("NewUser", "password", password.clone()),
        ("UserPatch", "password", password.clone()),
        ("PasswordChange", "new_password", password),
        (
            "Check",
            "interval_s",
            json!({ "minimum": MIN_INTERVAL_S, "maximum": MAX_INTERVAL_S }),
        ),
        (
            "Check",
            "timeout_s",
            json!({ "minimum": 1, "maximum": MAX_TIMEOUT_S }),
        ),
        (
            "Check",
            "retries",
            json!({ "minimum": 0, "maximum": MAX_RETRIES }),
        ),
        (
            "Check",
            "method",
            json!({ "$ref": "#/components/schemas/HttpMethod" }),
        ),
        (
            "Check",
            "expected_status",
            json!({ "maxLength": 200, "pattern": patterns::STATUS_RANGES }),
        ),
        (
            "Check",
            "headers",
            json!({
                "maxProperties": MAX_HEADERS,
                "propertyNames": { "pattern": patterns::HEADER_NAME },
                "additionalProperties": {
                    "type": "string", "maxLength": MAX_HEADER_VALUE_CHARS, "pattern": patterns::HEADER_VALUE,
                },
            }),
        ),
        (
            "Check",
            "keyword",
            json!({ "minLength": 1, "maxLength": MAX_KEYWORD_CHARS }),
        ),
        (
            "Check",
            "record_type",
            json!({ "$ref": "#/components/schemas/RecordType" }),
        ),
        ("Check", "expected", json!({ "maxLength": 255 })),
        (
            "Check",
            "degraded_above_ms",
            json!({ "minimum": 1, "maximum": crate::model::check::MAX_DEGRADED_ABOVE_MS }),
        ),
        (
            "Check",
            "cert_warn_days",
            json!({ "minimum": 0, "maximum": crate::model::check::MAX_CERT_WARN_DAYS }),
        ),
        (
            "Check",
            "json",
            json!({ "maxItems": crate::model::check::MAX_JSON_CONDITIONS }),
        ),
        (
            "JsonCondition",
            "path",
            json!({ "maxLength": crate::model::check::MAX_JSON_PATH_CHARS, "pattern": "^(/.*|\\$.*)?$" }),
        ),
        (
            "Check",
            "packets",
            json!({ "minimum": 1, "maximum": crate::model::check::MAX_PACKETS }),
        ),
        ("Check", "loss_down_pct", json!({ "minimum": 1, "maximum": 100 })),
        ("Check", "token", json!({ "pattern": patterns::PUSH_TOKEN })),
        (
            "Check",
            "schedule",
            json!({ "maxLength": crate::model::check::MAX_SCHEDULE_CHARS, "pattern": "^\\S+( +\\S+){4,5}$" }),
        ),
        (
            "Check",
            "grace_s",
            json!({ "minimum": 0, "maximum": crate::model::check::MAX_GRACE_S }),
        ),
    ];
    for schema in ["NewService", "ServicePatch"] {
        rules.push((schema, "name", name.clone()));
        rules.push((schema, "url", url.clone()));
        rules.push((schema, "description", description.clone()));
        rules.push((schema, "icon", icon.clone()));
        rules.push((schema, "tags", tags.clone()));
    }
    for (schema, field) in [
        ("WebhookSettings", "url"),
        ("NtfySettings", "server_url"),
        ("DiscordSettings", "webhook_url"),
        ("SlackSettings", "webhook_url"),
        ("GotifySettings", "server_url"),
        ("TelegramSettings", "server_url"),
        ("PushoverSettings", "server_url"),
        ("MatrixSettings", "homeserver_url"),
        ("AppriseSettings", "server_url"),
    ] {
        rules.push((schema, field, url.clone()));
    }
    for schema in ["NewChannel", "ChannelPatch"] {
        rules.push((schema, "name", name.clone()));
    }
    for schema in ["NewMaintenance", "MaintenancePatch"] {
        rules.push((schema, "title", name.clone()));
    }
    for schema in ["Service", "Group"] {
        for field in ["id", "position", "created_at", "updated_at"] {
            rules.push((schema, field, read_only.clone()));
        }
    }
    rules.push(("Service", "status", read_only));
    // Hours without a successful check have no latency.
    rules.push((
        "DashboardTile",
        "latency_24h",
        json!({ "items": { "type": ["number", "null"] } }),
    ));
    rules
}

/// The rules on query parameters the server checks beyond their type: (operation, parameter, keywords).
fn parameter_rules() -> Vec<(&'static str, &'static str, Value)> {
    let duration = json!({ "minimum": 0, "maximum": u32::MAX });
    let message = json!({ "maxLength": 300 });
    vec![
        (
            "listServices",
            "cursor",
            json!({ "pattern": format!("^$|{}", crate::model::cursor::PATTERN) }),
        ),
        ("push", "duration_ms", duration.clone()),
        ("pushPost", "duration_ms", duration),
        ("push", "msg", message.clone()),
        ("pushPost", "msg", message),
    ]
}

/// Merges `keywords` into an object schema (nested objects, such as `items`, are merged too).
fn merge(target: &mut Value, keywords: &Value) {
    match (target, keywords) {
        (Value::Object(target), Value::Object(keywords)) => {
            for (key, value) in keywords {
                match target.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
                    _ => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, keywords) => *target = keywords.clone(),
    }
}

/// The enumerations the rules refer to, as schemas of their own (generators make one type of each).
fn named_enums() -> [(&'static str, Value); 2] {
    [
        (
            "HttpMethod",
            json!({ "type": "string", "title": "HttpMethod", "description": "An HTTP request method.", "enum": HTTP_METHODS }),
        ),
        (
            "RecordType",
            json!({ "type": "string", "title": "RecordType", "description": "A DNS record type.", "enum": RECORD_TYPES }),
        ),
    ]
}

fn apply_field_rules(schemas: &mut Map<String, Value>) {
    for (name, schema) in named_enums() {
        schemas.insert(name.to_owned(), schema);
    }
    // Window values (`24h`, ...) are not identifiers; generators that make enum members need names.
    if let Some(window) = schemas.get_mut("Window") {
        window["x-enum-varnames"] = json!(["DAY", "WEEK", "MONTH", "QUARTER", "YEAR"]);
    }
    for (schema, property, keywords) in field_rules() {
        let Some(target) = schemas
            .get_mut(schema)
            .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
        else {
            continue;
        };
        match keywords.get("$ref") {
            // A reference replaces the property's own schema; its description stays.
            Some(reference) => {
                let description = target.get("description").cloned();
                *target = json!({ "$ref": reference });
                if let Some(description) = description {
                    target["description"] = description;
                }
            }
            None => merge(target, &keywords),
        }
    }
}

/// Examples of request bodies, one per schema; a unit test reads each with the server's own parser.
pub fn request_examples() -> Vec<(&'static str, Value)> {
    vec![
        ("NewGroup", json!({ "name": "Media" })),
        ("GroupPatch", json!({ "name": "Films and series" })),
        (
            "NewService",
            json!({
                "group_id": 1, "name": "Jellyfin", "url": "https://jellyfin.home.lan:8096",
                "description": "Films and series", "icon": "🎬", "tags": ["media"],
                "check": { "kind": "http", "interval_s": 30, "expected_status": "200-299,301" },
            }),
        ),
        (
            "ServicePatch",
            json!({ "icon": null, "check": { "kind": "tcp", "target": "nas.home.lan:22" } }),
        ),
        ("NewOrder", json!({ "ids": [3, 1, 2] })),
        (
            "SetupRequest",
            json!({ "token": "from the server's log", "username": "ada", "password": "correct horse battery" }),
        ),
        (
            "LoginRequest",
            json!({ "username": "ada", "password": "correct horse battery" }),
        ),
        (
            "PasswordChange",
            json!({ "current_password": "correct horse battery", "new_password": "staple and more" }),
        ),
        (
            "NewUser",
            json!({ "username": "grace", "password": "a long passphrase", "role": "viewer" }),
        ),
        ("UserPatch", json!({ "role": "admin" })),
        ("NewToken", json!({ "name": "backup script", "scope": "read" })),
    ]
}

/// Examples of what the server answers, serialized by the same code that writes the answers.
fn response_examples() -> Vec<(&'static str, Value)> {
    use poem_openapi::types::ToJSON;

    use crate::model::{Check, FieldError, Group, Service, ServiceState, ServiceStatus};
    let at = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
    let group = Group {
        id: 1,
        name: "Media".into(),
        position: 0,
        created_at: at,
        updated_at: at,
    };
    let check = Check::from_json(
        json!({ "kind": "http", "interval_s": 30 }),
        Some("https://jellyfin.home.lan:8096"),
    )
    .ok();
    let service = Service {
        id: 12,
        group_id: 1,
        name: "Jellyfin".into(),
        url: "https://jellyfin.home.lan:8096".into(),
        description: "Films and series".into(),
        icon: Some("🎬".into()),
        tags: vec!["media".into()],
        position: 0,
        check,
        badges: false,
        managed: false,
        status: ServiceStatus {
            state: ServiceState::Up,
            since: Some(at),
            last_checked_at: Some(at),
            last_latency_ms: Some(42),
            last_error: None,
            certificate: Some(crate::model::Certificate {
                expires_at: at + crate::model::seconds(60 * 86_400),
                days_left: 60,
                issuer: "R11".into(),
                subject: "jellyfin.home.example".into(),
            }),
        },
        created_at: at,
        updated_at: at,
    };
    let problem = super::problem::ApiError::invalid(vec![FieldError::new(
        "url",
        "scheme `htp` is not supported: must be an absolute http:// or https:// URL, such as https://jellyfin.home.lan:8096",
    )]);
    [
        ("Group", group.to_json()),
        ("Service", service.to_json()),
        ("Problem", problem.problem().to_json()),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)))
    .collect()
}

fn add_examples(schemas: &mut Map<String, Value>) {
    for (name, example) in request_examples().into_iter().chain(response_examples()) {
        if let Some(schema) = schemas.get_mut(name) {
            schema["examples"] = json!([example]);
        }
    }
}

/// The document, from poem-openapi's with the corrections above.
pub fn document(generated: &str) -> Value {
    let mut document: Value = serde_json::from_str(generated).unwrap_or_else(|_| json!({}));
    document["openapi"] = json!("3.1.0");
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        apply_field_rules(schemas);
        split_check_by_kind(schemas);
        add_examples(schemas);
        for schema in schemas.values_mut() {
            declare_nulls(schema);
        }
    }
    let mut request_bodies = Vec::new();
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for operations in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in operations.values_mut() {
                keep_own_errors(operation);
                apply_parameter_rules(operation);
                if let Some(reference) = operation
                    .pointer("/requestBody/content/application~1json/schema/$ref")
                    .and_then(Value::as_str)
                {
                    request_bodies.push(reference.trim_start_matches("#/components/schemas/").to_owned());
                }
            }
        }
    }
    // Request bodies are read strictly: a field the schema does not name is refused (422).
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in request_bodies {
            if let Some(schema) = schemas.get_mut(&name) {
                schema["additionalProperties"] = json!(false);
            }
        }
    }
    unwrap_described_refs(&mut document);
    document
}

/// Everywhere in the document: `{allOf: [{$ref: R}, {description: D}], description: D}` becomes
/// `{$ref: R, description: D}` (3.1 lets a `$ref` have a description beside it).
fn unwrap_described_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let wrapped_ref = match map.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                Some([first, rest @ ..])
                    if first.get("$ref").is_some()
                        && rest.iter().all(|part| {
                            part.as_object()
                                .is_some_and(|part| part.keys().all(|key| key == "description"))
                        }) =>
                {
                    first.get("$ref").cloned()
                }
                _ => None,
            };
            if let Some(reference) = wrapped_ref {
                map.remove("allOf");
                map.insert("$ref".into(), reference);
            }
            for child in map.values_mut() {
                unwrap_described_refs(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_described_refs),
        _ => {}
    }
}

/// In an object schema, every property that is not required may be null: the server writes null for an
/// absent value, and reads null as "absent" (or, in a patch, as "remove").
fn declare_nulls(schema: &mut Value) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        if !required.contains(name) {
            make_nullable(property);
        }
    }
}

fn make_nullable(property: &mut Value) {
    let Some(map) = property.as_object_mut() else {
        return;
    };
    let reference = match map.remove("$ref") {
        Some(reference) => Some(reference),
        None => {
            let wrapped = single_ref_in(map.get("allOf"));
            if wrapped.is_some() {
                map.remove("allOf");
            }
            wrapped
        }
    };
    if let Some(reference) = reference {
        map.insert("anyOf".into(), json!([{ "$ref": reference }, { "type": "null" }]));
        return;
    }
    match map.get_mut("type") {
        Some(Value::String(kind)) => {
            let kind = std::mem::take(kind);
            map.insert("type".into(), json!([kind, "null"]));
        }
        Some(Value::Array(kinds)) if !kinds.contains(&json!("null")) => kinds.push(json!("null")),
        _ => {}
    }
    if let Some(Value::Array(values)) = map.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

fn single_ref_in(all_of: Option<&Value>) -> Option<Value> {
    match all_of?.as_array()?.as_slice() {
        [first, rest @ ..] if rest.iter().all(|part| part.get("$ref").is_none()) => {
            first.get("$ref").cloned()
        }
        _ => None,
    }
}

/// Replaces the flat `Check` with a union of one schema per kind, each listing only its own fields; the
/// field schemas (types, bounds, patterns, descriptions) stay those the code declares.
fn split_check_by_kind(schemas: &mut Map<String, Value>) {
    let Some(flat) = schemas.get("Check").cloned() else {
        return;
    };
    let properties = flat
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut union = Vec::new();
    let mut mapping = BTreeMap::new();
    for kind in CheckKind::ALL {
        let title = format!("{}Check", kind.title());
        let mut own = Map::new();
        own.insert(
            "kind".into(),
            json!({ "type": "string", "enum": [kind.as_str()], "description": "What kind of probe this check runs." }),
        );
        for field in kind.fields() {
            if let Some(schema) = properties.get(*field) {
                own.insert((*field).to_owned(), schema.clone());
            }
        }
        let (pattern, max_chars) = kind.target_pattern();
        if let Some(target) = own.get_mut("target") {
            merge(target, &json!({ "maxLength": max_chars, "pattern": pattern }));
        }
        let mut required = vec![json!("kind")];
        required.extend(kind.required_fields().iter().map(|field| json!(field)));
        schemas.insert(
            title.clone(),
            json!({
                "type": "object",
                "title": title,
                "description": kind.description(),
                "required": required,
                "additionalProperties": false,
                "properties": own,
            }),
        );
        let reference = format!("#/components/schemas/{title}");
        union.push(json!({ "$ref": reference }));
        mapping.insert(kind.as_str().to_owned(), reference);
    }
    let description = flat.get("description").cloned().unwrap_or(Value::Null);
    schemas.insert(
        "Check".into(),
        json!({
            "title": "Check",
            "description": description,
            "oneOf": union,
            "discriminator": { "propertyName": "kind", "mapping": mapping },
        }),
    );
    schemas.remove("CheckKind");
}

fn apply_parameter_rules(operation: &mut Value) {
    let id = operation
        .get("operationId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for (operation_id, name, keywords) in parameter_rules() {
        if operation_id != id {
            continue;
        }
        for parameter in parameters.iter_mut().filter(|p| p["name"] == name) {
            merge(&mut parameter["schema"], &keywords);
        }
    }
}

/// Leaves an operation only the error responses its entry in `ERROR_STATUSES` names.
fn keep_own_errors(operation: &mut Value) {
    let own = operation
        .get("operationId")
        .and_then(Value::as_str)
        .map(error_statuses)
        .unwrap_or_default();
    if let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) {
        responses.retain(|status, _| match status.parse::<u16>() {
            Ok(code) if code >= 400 => own.contains(&code),
            _ => true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_refs_are_unwrapped_and_optional_ones_may_be_null() {
        let mut schema = json!({
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": { "description": "d", "allOf": [{ "$ref": "#/S" }, { "description": "d" }] },
                "check": { "description": "c", "allOf": [{ "$ref": "#/C" }, { "description": "c" }] },
                "icon": { "type": "string" },
                "state": { "type": "string", "enum": ["up"] },
            }
        });
        declare_nulls(&mut schema);
        unwrap_described_refs(&mut schema);
        let properties = &schema["properties"];
        assert_eq!(properties["status"], json!({ "description": "d", "$ref": "#/S" }));
        assert_eq!(
            properties["check"]["anyOf"],
            json!([{ "$ref": "#/C" }, { "type": "null" }])
        );
        assert_eq!(properties["icon"]["type"], json!(["string", "null"]));
        assert_eq!(properties["state"]["enum"], json!(["up", null]));
    }

    /// The table and the code agree: every operation has an entry, and documents exactly those statuses
    /// (pruning can only take away, so a status the code never registers would be missing).
    #[test]
    fn every_operation_documents_exactly_its_error_statuses() {
        let document = document(&crate::http::api_service().spec());
        let mut seen = Vec::new();
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                seen.push(id.to_owned());
                let documented: Vec<u16> = operation["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .filter_map(|code| code.parse().ok())
                    .filter(|code| *code >= 400)
                    .collect();
                assert_eq!(documented, error_statuses(id), "{method} {path} ({id})");
            }
        }
        seen.sort();
        let mut tabled: Vec<String> = ERROR_STATUSES.iter().map(|(id, _)| (*id).to_owned()).collect();
        tabled.sort();
        assert_eq!(seen, tabled, "the table names every operation, and only those");
    }

    /// Each request example is a body the server accepts, read by the server's own parser.
    #[tokio::test]
    async fn request_examples_are_accepted() {
        use crate::model::{
            GroupPatch, LoginRequest, NewGroup, NewOrder, NewService, NewToken, NewUser, PasswordChange,
            ServicePatch, SetupRequest, UserPatch,
        };

        use super::super::json_body::parse_json;
        for (name, example) in request_examples() {
            let body = || poem::Body::from_string(example.to_string());
            let json = Some("application/json");
            let accepted = match name {
                "NewGroup" => parse_json::<NewGroup>(json, body()).await.map(drop),
                "GroupPatch" => parse_json::<GroupPatch>(json, body()).await.map(drop),
                "NewService" => parse_json::<NewService>(json, body()).await.map(drop),
                "ServicePatch" => parse_json::<ServicePatch>(json, body()).await.map(drop),
                "NewOrder" => parse_json::<NewOrder>(json, body()).await.map(drop),
                "SetupRequest" => parse_json::<SetupRequest>(json, body()).await.map(drop),
                "LoginRequest" => parse_json::<LoginRequest>(json, body()).await.map(drop),
                "PasswordChange" => parse_json::<PasswordChange>(json, body()).await.map(drop),
                "NewUser" => parse_json::<NewUser>(json, body()).await.map(drop),
                "UserPatch" => parse_json::<UserPatch>(json, body()).await.map(drop),
                "NewToken" => parse_json::<NewToken>(json, body()).await.map(drop),
                other => panic!("no parser for the example of {other}"),
            };
            assert!(
                accepted.is_ok(),
                "{name}: {:?}",
                accepted.err().map(|e| e.problem().clone())
            );
        }
        let document = document(&crate::http::api_service().spec());
        let with_examples = document["components"]["schemas"]
            .as_object()
            .unwrap()
            .values()
            .filter(|schema| schema.get("examples").is_some())
            .count();
        assert_eq!(with_examples, request_examples().len() + 3);
    }

    #[test]
    fn each_operation_keeps_only_its_errors() {
        let mut operation = json!({
            "operationId": "getGroup",
            "responses": { "200": {}, "401": {}, "404": {}, "409": {}, "503": {} }
        });
        keep_own_errors(&mut operation);
        let kept: Vec<&String> = operation["responses"].as_object().unwrap().keys().collect();
        assert_eq!(kept, ["200", "401", "404", "503"]);
    }
}
