//! compose.yml and the Dockerfile, checked for the structure the README promises. No Docker engine runs on
//! the build machines, so these parse the files instead of running them.

use std::path::Path;

use serde_yaml_ng::Value;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn compose() -> Value {
    let mut value: Value = serde_yaml_ng::from_str(&read("compose.yml")).expect("compose.yml is YAML");
    value.apply_merge().expect("YAML merge keys resolve");
    // Nested merges (environment maps) need a second pass.
    value.apply_merge().unwrap();
    value
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_mapping(), "compose.yml has no service `{name}`");
    service
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn plain_up_runs_homewatch_on_sqlite_in_a_named_volume() {
    let env_file = read(".env");
    assert!(
        env_file
            .lines()
            .any(|line| line.trim() == "COMPOSE_PROFILES=sqlite"),
        "`.env` picks the sqlite profile"
    );

    let compose = compose();
    let app = service(&compose, "homewatch");
    assert_eq!(strings(&app["profiles"]), ["sqlite"]);
    assert_eq!(app["build"], Value::from("."));
    assert!(
        app["environment"]["DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("sqlite:///data/")
    );
    assert_eq!(
        app["environment"]["HOMEWATCH_LISTEN"],
        Value::from("0.0.0.0:8080")
    );
    assert!(strings(&app["ports"]).iter().any(|p| p.ends_with(":8080")));
    let volume = strings(&app["volumes"])
        .into_iter()
        .find(|v| v.ends_with(":/data"))
        .expect("a volume at /data");
    let volume_name = volume.split(':').next().unwrap();
    assert!(
        compose["volumes"].as_mapping().unwrap().contains_key(volume_name),
        "named volume declared"
    );
    let declared = &compose["volumes"][volume_name];
    assert!(
        declared.is_null() || declared.get("external").is_none(),
        "the volume is Compose's own (declared empty or with options), not an external one: {declared:?}"
    );
}

#[test]
fn postgres_profile_adds_a_healthy_postgres_that_homewatch_waits_for_and_uses() {
    let compose = compose();
    let postgres = service(&compose, "postgres");
    assert_eq!(strings(&postgres["profiles"]), ["postgres", "replicas"]);
    let test = strings(&postgres["healthcheck"]["test"]).join(" ");
    assert!(test.contains("pg_isready"), "postgres has a health check: {test}");

    let app = service(&compose, "homewatch-postgres");
    assert_eq!(
        strings(&app["profiles"]),
        ["postgres"],
        "replaces the sqlite app under --profile postgres"
    );
    assert_eq!(
        app["build"],
        service(&compose, "homewatch")["build"],
        "the same image as the sqlite app"
    );
    assert_eq!(
        app["depends_on"]["postgres"]["condition"],
        Value::from("service_healthy")
    );

    let url = url::Url::parse(app["environment"]["DATABASE_URL"].as_str().unwrap()).expect("a URL");
    assert_eq!(url.scheme(), "postgres");
    assert_eq!(
        url.host_str(),
        Some("postgres"),
        "reaches the compose service by name"
    );
    assert_eq!(
        url.path().trim_start_matches('/'),
        postgres["environment"]["POSTGRES_DB"].as_str().unwrap()
    );
    assert_eq!(
        url.username(),
        postgres["environment"]["POSTGRES_USER"].as_str().unwrap()
    );
    assert!(
        strings(&postgres["volumes"])
            .iter()
            .any(|v| v.ends_with(":/var/lib/postgresql/data"))
    );
    // The two app services publish the same port and must never both be enabled.
    let profiles: Vec<Vec<String>> = ["homewatch", "homewatch-postgres"]
        .iter()
        .map(|name| strings(&service(&compose, name)["profiles"]))
        .collect();
    assert!(profiles[0].iter().all(|p| !profiles[1].contains(p)));
}

#[test]
fn dockerfile_builds_postgres_support_and_runs_non_root_with_a_healthcheck() {
    let dockerfile = read("Dockerfile");
    let stages = dockerfile
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "multi-stage build");
    assert!(dockerfile.contains("cargo build --profile dist --locked --features postgres"));
    // The image's profile exists and is the optimised one (the plain release build stays quick to make).
    let manifest = read("Cargo.toml");
    let dist = manifest
        .split("[profile.dist]")
        .nth(1)
        .expect("a dist profile in Cargo.toml");
    assert!(dist.contains("inherits = \"release\"") && dist.contains("lto = \"fat\""));
    assert!(dockerfile.contains("/src/target/dist/homewatch"));
    let user = dockerfile
        .lines()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER line");
    let account = user["USER ".len()..].split(':').next().unwrap().trim();
    assert!(!matches!(account, "root" | "0"), "runs as non-root: {user}");
    assert!(
        dockerfile.contains(r#"CMD ["/usr/local/bin/homewatch", "healthcheck"]"#),
        "HEALTHCHECK through the binary"
    );
    assert!(dockerfile.contains("HOMEWATCH_LISTEN=0.0.0.0:8080") && dockerfile.contains("EXPOSE 8080"));

    // The builder's Rust is at least the crate's rust-version.
    let image = dockerfile
        .lines()
        .find(|l| l.starts_with("FROM rust:"))
        .expect("a rust builder image");
    let builder: Vec<u32> = image["FROM rust:".len()..]
        .split('-')
        .next()
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let manifest = read("Cargo.toml");
    let required = manifest.lines().find(|l| l.starts_with("rust-version")).unwrap();
    let required: Vec<u32> = required
        .split('"')
        .nth(1)
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        builder >= required,
        "builder {builder:?} < rust-version {required:?}"
    );

    // Everything the Dockerfile copies from the repository exists.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
    {
        let parts: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &parts[..parts.len() - 1] {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(source).exists(),
                "COPY source {source} is missing"
            );
        }
    }
    assert!(
        read(".dockerignore").lines().any(|l| l.trim() == "target"),
        "the build context leaves out target/"
    );
}

#[test]
fn replicas_profile_runs_several_replicas_on_postgres_behind_a_balancer() {
    let compose = compose();
    let replica = service(&compose, "homewatch-replica");
    assert_eq!(strings(&replica["profiles"]), ["replicas"]);
    assert!(
        replica["ports"].is_null(),
        "replicas publish no host port: the balancer does"
    );
    assert_eq!(
        replica["deploy"]["replicas"].as_str(),
        Some("${HOMEWATCH_REPLICAS:-3}"),
        "three replicas unless HOMEWATCH_REPLICAS says otherwise"
    );
    assert_eq!(replica["build"], service(&compose, "homewatch")["build"]);
    let url = url::Url::parse(replica["environment"]["DATABASE_URL"].as_str().unwrap()).unwrap();
    assert_eq!(
        (url.scheme(), url.host_str()),
        ("postgres", Some("postgres")),
        "every replica on the one PostgreSQL"
    );
    assert_eq!(
        replica["environment"]["HOMEWATCH_TRUSTED_PROXIES"].as_str(),
        Some("private"),
        "client addresses come through the balancer"
    );
    assert_eq!(
        replica["depends_on"]["postgres"]["condition"],
        Value::from("service_healthy")
    );
    let postgres = service(&compose, "postgres");
    assert!(strings(&postgres["profiles"]).contains(&"replicas".to_owned()));

    let balancer = service(&compose, "balancer");
    assert_eq!(strings(&balancer["profiles"]), ["replicas"]);
    assert_eq!(strings(&balancer["ports"]), ["${HOMEWATCH_PORT:-8080}:8080"]);
    assert_eq!(
        balancer["depends_on"]["homewatch-replica"]["condition"],
        Value::from("service_healthy")
    );
    let source = balancer["configs"][0]["source"].as_str().unwrap();
    let config = compose["configs"][source]["content"].as_str().unwrap();
    for needed in [
        "server homewatch-replica:8080",
        "proxy_pass http://homewatch;",
        // Event streams pass through unbuffered.
        "proxy_buffering off;",
        "X-Forwarded-For $$proxy_add_x_forwarded_for",
        "listen 8080;",
    ] {
        assert!(config.contains(needed), "the balancer's config has `{needed}`");
    }
    // No other app service runs under this profile (the port is the balancer's).
    for other in ["homewatch", "homewatch-postgres"] {
        assert!(!strings(&service(&compose, other)["profiles"]).contains(&"replicas".to_owned()));
    }
}
