//! Reading a document: YAML (or JSON, which is YAML too) into a JSON value while noting the line of every
//! field, `${HOMEWATCH_SECRET_…}` references filled from the environment, then serde and the document's
//! rules. Every problem names the file, the line and the field.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use yaml_rust2::{
    parser::{Event, MarkedEventReceiver, Parser},
    scanner::{Marker, TScalarStyle},
};

use super::{Checked, Manifest, SECRET_PREFIX, check};
use crate::model::FieldError;

/// Largest document read (the API's body limit, and plenty for 10,000 tiles).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// One problem with a document.
#[derive(Debug, Clone, PartialEq, Eq, poem_openapi::Object, serde::Serialize)]
pub struct Problem {
    /// The file (or `(body)` for the API).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// The field as a path, such as `groups[0].tiles[2].url`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

/// A parsed document: its value, and the line where each field's path starts.
#[derive(Debug, Default)]
pub struct Located {
    pub value: Value,
    lines: HashMap<String, u32>,
}

impl Located {
    /// The line of `path`, or of the nearest enclosing field that has one.
    pub fn line_of(&self, path: &str) -> Option<u32> {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return Some(*line);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

enum Frame {
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        path: String,
    },
    Seq {
        items: Vec<Value>,
        path: String,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    done: Option<Value>,
    lines: HashMap<String, u32>,
    error: Option<(Marker, String)>,
    documents: usize,
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// Where the next value goes: its path.
    fn next_path(&self) -> String {
        match self.stack.last() {
            Some(Frame::Map {
                key: Some(key), path, ..
            }) => child_path(path, key),
            Some(Frame::Seq { items, path }) => format!("{path}[{}]", items.len()),
            _ => String::new(),
        }
    }

    fn push_value(&mut self, value: Value, mark: Marker) {
        match self.stack.last_mut() {
            None => self.done = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, path }) => match key.take() {
                Some(key) => {
                    map.insert(key, value);
                }
                None => match value {
                    Value::String(text) => {
                        let at = child_path(path, &text);
                        self.lines.entry(at).or_insert(mark.line() as u32);
                        *key = Some(text);
                    }
                    Value::Number(_) | Value::Bool(_) => {
                        let text = value.to_string();
                        self.lines
                            .entry(child_path(path, &text))
                            .or_insert(mark.line() as u32);
                        *key = Some(text);
                    }
                    _ => {
                        if self.error.is_none() {
                            self.error = Some((mark, "a key must be text".into()));
                        }
                        *key = Some(String::new());
                    }
                },
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::DocumentStart => self.documents += 1,
            Event::Alias(_) => {
                if self.error.is_none() {
                    self.error = Some((
                        mark,
                        "anchors and aliases (`*name`) are not supported; write the value out".into(),
                    ));
                }
                self.push_value(Value::Null, mark);
            }
            Event::Scalar(text, style, _, _) => {
                let path = self.next_path();
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                if !is_key {
                    self.lines.entry(path).or_insert(mark.line() as u32);
                }
                let value = match style {
                    TScalarStyle::Plain => plain_scalar(&text),
                    _ => Value::String(text),
                };
                self.push_value(value, mark);
            }
            Event::SequenceStart(..) => {
                let path = self.next_path();
                self.lines.entry(path.clone()).or_insert(mark.line() as u32);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                });
            }
            Event::MappingStart(..) => {
                let path = self.next_path();
                self.lines.entry(path.clone()).or_insert(mark.line() as u32);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    path,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq { items, .. }) = self.stack.pop() {
                    self.push_value(Value::Array(items), mark);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map { map, .. }) = self.stack.pop() {
                    self.push_value(Value::Object(map), mark);
                }
            }
            _ => {}
        }
    }
}

/// A plain (unquoted) scalar as YAML 1.2's core schema reads it.
fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(number) = text.parse::<i64>()
    {
        return Value::from(number);
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric
        && let Ok(number) = text.parse::<f64>()
        && let Some(number) = serde_json::Number::from_f64(number)
    {
        return Value::Number(number);
    }
    Value::String(text.to_owned())
}

/// Parses YAML or JSON text, noting lines (1-based).
pub fn parse(text: &str, file: &str) -> Result<Located, Problem> {
    let problem = |line: Option<u32>, message: String| Problem {
        file: file.to_owned(),
        line,
        field: "(document)".into(),
        message,
    };
    if text.len() > MAX_BYTES {
        return Err(problem(None, format!("is larger than {MAX_BYTES} bytes")));
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(err) = parser.load(&mut builder, true) {
        return Err(problem(
            Some(err.marker().line() as u32),
            format!("is not valid YAML or JSON: {}", err.info()),
        ));
    }
    if let Some((mark, message)) = builder.error {
        return Err(problem(Some(mark.line() as u32), message));
    }
    if builder.documents > 1 {
        return Err(problem(
            None,
            "holds more than one YAML document (`---`); put everything in one".into(),
        ));
    }
    Ok(Located {
        value: builder.done.unwrap_or(Value::Null),
        lines: builder.lines,
    })
}

/// Puts each `${NAME}` reference's value in its place (`$${` stays a literal `${`). Only variables named
/// `HOMEWATCH_SECRET_…` may be referenced.
fn fill_references(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<FieldError>,
) {
    match value {
        Value::String(text) if text.contains("${") => {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                if rest[..start].ends_with('$') {
                    out.push_str(&rest[..start - 1]);
                    out.push_str("${");
                    rest = &rest[start + 2..];
                    continue;
                }
                out.push_str(&rest[..start]);
                let Some(end) = rest[start..].find('}') else {
                    errors.push(FieldError::new(
                        path,
                        "has `${` without a closing `}`; write `$${` for a literal `${`",
                    ));
                    return;
                };
                let name = &rest[start + 2..start + end];
                if !name.starts_with(SECRET_PREFIX) {
                    errors.push(FieldError::new(
                        path,
                        format!("refers to `{name}`; only environment variables named {SECRET_PREFIX}… may be referenced"),
                    ));
                    return;
                }
                match env(name) {
                    Some(found) => out.push_str(&found),
                    None => {
                        errors.push(FieldError::new(
                            path,
                            format!("refers to the environment variable {name}, which is not set"),
                        ));
                        return;
                    }
                }
                rest = &rest[start + end + 1..];
            }
            out.push_str(rest);
            *text = out;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                fill_references(item, &format!("{path}[{i}]"), env, errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                fill_references(item, &child_path(path, key), env, errors);
            }
        }
        _ => {}
    }
}

/// serde's path (`groups[0].tiles[1].check`) for a deserialization error, and its message without serde's
/// own position.
fn serde_problem(path: String, err: &serde_json::Error) -> FieldError {
    let full = err.to_string();
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(message, _)| message)
        .to_owned();
    let path = if path == "." { String::new() } else { path };
    if let Some((name, _)) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
    {
        return FieldError::new(child_path(&path, name), "is required");
    }
    FieldError::new(
        if path.is_empty() {
            "(document)".into()
        } else {
            path
        },
        message,
    )
}

/// A typed value from a located document, each problem with its line.
pub fn typed<T: DeserializeOwned>(located: &Located, file: &str) -> Result<T, Vec<Problem>> {
    serde_path_to_error::deserialize(located.value.clone()).map_err(|err| {
        let path = err.path().to_string();
        let error = serde_problem(path, err.inner());
        vec![with_line(located, file, error)]
    })
}

fn with_line(located: &Located, file: &str, error: FieldError) -> Problem {
    Problem {
        file: file.to_owned(),
        line: located.line_of(&error.field),
        field: error.field,
        message: error.message,
    }
}

/// Reads a Homewatch document: parsed, references filled from `env`, typed, and its rules checked.
pub fn load(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Checked, Located), Vec<Problem>> {
    let mut located = parse(text, file).map_err(|p| vec![p])?;
    if !located.value.is_object() {
        return Err(vec![Problem {
            file: file.to_owned(),
            line: Some(1),
            field: "(document)".into(),
            message:
                "must be a mapping with `version: 1` and `groups`, `channels`, `maintenance`, `status_pages`"
                    .into(),
        }]);
    }
    let mut errors = Vec::new();
    fill_references(&mut located.value, "", env, &mut errors);
    if !errors.is_empty() {
        return Err(errors.into_iter().map(|e| with_line(&located, file, e)).collect());
    }
    let manifest: Manifest = typed(&located, file)?;
    let checked = check(manifest).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| with_line(&located, file, e))
            .collect::<Vec<_>>()
    })?;
    Ok((checked, located))
}

/// Problems found after loading (a plan's references) with the document's lines.
pub fn locate(located: &Located, file: &str, errors: Vec<FieldError>) -> Vec<Problem> {
    errors.into_iter().map(|e| with_line(located, file, e)).collect()
}

/// The process environment, for `load`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A document as YAML text, with the schema line editors read.
pub fn to_yaml(manifest: &Manifest, header: &str) -> String {
    let value = serde_json::to_value(manifest).unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!(
        "# yaml-language-server: $schema={}\n",
        super::SCHEMA_URL
    ));
    for line in header.lines() {
        out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    let yaml = json_to_yaml(&value);
    let mut text = String::new();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut text);
    emitter.multiline_strings(true);
    if emitter.dump(&yaml).is_err() {
        return out;
    }
    out.push_str(text.trim_start_matches("---\n").trim_start_matches("---"));
    out.push('\n');
    out
}

fn json_to_yaml(value: &Value) -> yaml_rust2::Yaml {
    use yaml_rust2::Yaml;
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(json_to_yaml).collect()),
        Value::Object(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), json_to_yaml(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_found_for_nested_fields() {
        let text =
            "version: 1\ngroups:\n  - name: Media\n    tiles:\n      - name: Jellyfin\n        url: nope\n";
        let located = parse(text, "f.yaml").unwrap();
        assert_eq!(located.line_of("groups[0].tiles[0].url"), Some(6));
        assert_eq!(located.line_of("groups[0].tiles[0].check.kind"), Some(5));
        assert_eq!(located.line_of("groups[0].name"), Some(3));
    }

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        assert_eq!(plain_scalar("60"), Value::from(60));
        assert_eq!(plain_scalar("true"), Value::Bool(true));
        assert_eq!(plain_scalar("~"), Value::Null);
        assert_eq!(plain_scalar("1.5"), Value::from(1.5));
        assert_eq!(plain_scalar("200-299"), Value::String("200-299".into()));
        assert_eq!(plain_scalar("yes"), Value::String("yes".into()));
    }

    #[test]
    fn references_are_filled_and_only_secret_ones() {
        let env = |name: &str| (name == "HOMEWATCH_SECRET_A").then(|| "s3cret".to_owned());
        let mut value =
            serde_json::json!({"a": "x${HOMEWATCH_SECRET_A}y", "b": "$${LITERAL}", "c": "${DATABASE_URL}"});
        let mut errors = Vec::new();
        fill_references(&mut value, "", &env, &mut errors);
        assert_eq!(value["a"], "xs3crety");
        assert_eq!(value["b"], "${LITERAL}");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "c");
    }
}
