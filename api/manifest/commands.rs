//! `homewatch export`, `apply` and `import`: the document commands, on the store `DATABASE_URL` names.

use std::{io::Read, path::Path, sync::Arc};

use super::{Current, Manifest, Plan, check, export as read_export, import, load, plan};
use crate::{
    config::{Config, ExportFormat, ImportSource},
    server::{StartError, open_store},
    store::Store,
};

fn write_out(text: &str, output: Option<&Path>) -> Result<(), StartError> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|err| StartError::Config(format!("cannot write {}: {err}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The document as text in the chosen format.
pub fn render(manifest: &Manifest, format: ExportFormat, variables: &[String]) -> String {
    match format {
        ExportFormat::Json => {
            let mut text = serde_json::to_string_pretty(manifest).unwrap_or_default();
            text.push('\n');
            text
        }
        ExportFormat::Yaml => {
            let mut header = String::from(
                "Homewatch configuration (format version 1). Apply with: homewatch apply -f FILE [--dry-run] [--prune]",
            );
            if !variables.is_empty() {
                header.push_str("\nSecrets are references; set these environment variables before applying:");
                for name in variables {
                    header.push_str(&format!("\n  {name}"));
                }
            }
            load::to_yaml(manifest, &header)
        }
    }
}

pub async fn export(
    config: &Config,
    format: ExportFormat,
    include_secrets: bool,
    output: Option<&Path>,
) -> Result<(), StartError> {
    let store = open_store(config).await?;
    let manifest = read_export(store.as_ref()).await;
    store.close().await;
    let manifest = manifest.map_err(|err| StartError::Runtime(err.to_string()))?;
    let (manifest, variables) = match include_secrets {
        true => (manifest, Vec::new()),
        false => manifest.with_secret_references(),
    };
    write_out(&render(&manifest, format, &variables), output)
}

fn read_text(file: &Path) -> Result<String, StartError> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| StartError::Config(format!("cannot read standard input: {err}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .map_err(|err| StartError::Config(format!("cannot read {}: {err}", file.display())))
}

fn problems(list: Vec<load::Problem>) -> StartError {
    let lines: Vec<String> = list.iter().map(ToString::to_string).collect();
    StartError::Config(format!(
        "the document has {} problem{}; nothing was changed:\n{}",
        list.len(),
        if list.len() == 1 { "" } else { "s" },
        lines.join("\n")
    ))
}

/// Plans against the store and, unless `dry_run`, applies; prints the plan either way.
async fn plan_and_apply(
    store: &Arc<dyn Store>,
    checked: &super::Checked,
    located: Option<(&load::Located, &str)>,
    dry_run: bool,
    prune: bool,
) -> Result<Plan, StartError> {
    let current = Current::read(store.as_ref())
        .await
        .map_err(|err| StartError::Runtime(err.to_string()))?;
    let planned = plan(checked, &current, prune).map_err(|errors| match located {
        Some((located, file)) => problems(load::locate(located, file, errors)),
        None => StartError::Config(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    })?;
    print!("{}", planned.render());
    if dry_run {
        println!("dry run: nothing was changed");
    } else if planned.is_empty() {
        println!("the store already matches; nothing to change");
    } else {
        store
            .apply_config(&planned.ops())
            .await
            .map_err(|err| StartError::Runtime(format!("nothing was changed: {err}")))?;
        println!(
            "applied in one transaction; a running server picks the changes up when restarted (the API applies them live)"
        );
    }
    Ok(planned)
}

pub async fn apply(config: &Config, file: &Path, dry_run: bool, prune: bool) -> Result<(), StartError> {
    let text = read_text(file)?;
    let name = file.display().to_string();
    let (checked, located) = load::load(&text, &name, &load::process_env).map_err(problems)?;
    let store = open_store(config).await?;
    let done = plan_and_apply(&store, &checked, Some((&located, &name)), dry_run, prune).await;
    store.close().await;
    done.map(|_| ())
}

pub async fn import(
    config: &Config,
    from: ImportSource,
    file: &Path,
    dry_run: bool,
    output: Option<&Path>,
) -> Result<(), StartError> {
    let imported = import::read(from, file).await.map_err(StartError::Config)?;
    eprint!("{}", imported.render_report());
    if let Some(output) = output {
        let (manifest, variables) = imported.manifest.clone().with_secret_references();
        write_out(&render(&manifest, ExportFormat::Yaml, &variables), Some(output))?;
        eprintln!(
            "wrote {}; apply it with: homewatch apply -f {}",
            output.display(),
            output.display()
        );
        return Ok(());
    }
    let checked = check(imported.manifest).map_err(|errors| {
        StartError::Config(format!(
            "the imported configuration breaks these rules; nothing was changed:\n{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    })?;
    let store = open_store(config).await?;
    let done = plan_and_apply(&store, &checked, None, dry_run, false).await;
    store.close().await;
    done.map(|_| ())
}

/// Applies the `HOMEWATCH_CONFIG` file: its tiles become the managed ones, managed tiles it no longer names
/// are deleted, nothing else is. Answers a one-line summary, or every problem (nothing changed then).
pub async fn apply_config_file(store: &dyn Store, path: &Path) -> Result<String, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| format!("cannot read {name}: {err}"))?;
    let joined = |list: Vec<load::Problem>| {
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (checked, located) = load::load(&text, &name, &load::process_env).map_err(joined)?;
    let current = Current::read(store).await.map_err(|err| err.to_string())?;
    let planned = super::plan_managed(&checked, &current)
        .map_err(|errors| joined(load::locate(&located, &name, errors)))?;
    if !planned.is_empty() {
        store
            .apply_config(&planned.ops())
            .await
            .map_err(|err| format!("{name}: nothing was changed: {err}"))?;
    }
    Ok(format!(
        "{name}: {} created, {} changed, {} deleted",
        planned.count(super::Action::Create),
        planned.count(super::Action::Change),
        planned.count(super::Action::Delete)
    ))
}
