//! compose.yaml's services: pinned images, ports, start order behind healthchecks, volumes, the
//! images' builds, the scale profile, Jaeger's Badger.

use super::*;

#[test]
fn compose_runs_jaeger_v2_prometheus_and_the_contrib_collector_at_pinned_versions() {
    let compose = compose();
    let (jaeger, [major, minor, patch]) = pinned_image(&compose, "jaeger", "jaegertracing/jaeger:");
    assert_eq!(major, 2, "Jaeger v2: {jaeger}");
    // The Jaeger the tests and scripts/dev.sh run is built from its Go module at the same release:
    // Jaeger tags each release twice, v1.(N+63) being v2.N (v1.75.0 is v2.12.0), and only the v1
    // tags are Go module versions.
    let go_mod = read("jaeger/go.mod");
    let module = format!("github.com/jaegertracing/jaeger v1.{}.{patch}", minor + 63);
    assert!(
        go_mod.contains(&module),
        "jaeger/go.mod builds compose's {jaeger}: {module}"
    );
    // Prometheus likewise: its Go module's versions are v0.<major><minor>.<patch> (v0.316.0 is
    // 3.16.0).
    let (prometheus, [major, minor, patch]) =
        pinned_image(&compose, "prometheus", "prom/prometheus:v");
    let module = format!("github.com/prometheus/prometheus v0.{major}{minor:02}.{patch}");
    assert!(
        read("prometheus/go.mod").contains(&module),
        "prometheus/go.mod builds compose's {prometheus}: {module}"
    );
    let (collector, [major, minor, _]) = pinned_image(
        &compose,
        "otel-collector",
        "otel/opentelemetry-collector-contrib:",
    );
    assert!(
        major == 0 && minor >= 159,
        "pinned collector-contrib 0.159 or newer (the `otlp_grpc` exporter): {collector}"
    );
}

/// The image of compose's service `name`, and its version: the tag after `repository` (the
/// image's name up to the version, `prom/prometheus:v` say), as [`semver`] reads it.
fn pinned_image<'a>(compose: &'a Value, name: &str, repository: &str) -> (&'a str, [u32; 3]) {
    let image = service(compose, name)["image"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has an image"));
    let version = image
        .strip_prefix(repository)
        .unwrap_or_else(|| panic!("{name} runs {repository}…: {image}"));
    (image, semver(version))
}

/// `MAJOR.MINOR.PATCH`, all three numbers; panics on anything else (a pin is exact).
fn semver(version: &str) -> [u32; 3] {
    let parts: Vec<u32> = version
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not a pinned version: {version}"))
        })
        .collect();
    parts
        .try_into()
        .unwrap_or_else(|_| panic!("not MAJOR.MINOR.PATCH: {version}"))
}

#[test]
fn compose_ports_and_endpoints_agree_with_the_code() {
    let compose = compose();
    let ports = |name: &str| strings(&service(&compose, name)["ports"]);
    assert!(ports("jaeger").contains(&"16686:16686".to_owned()));
    // The server's private receiver on this host's loopback only; the public one not at all.
    assert_eq!(
        ports("otel-collector"),
        ["127.0.0.1:4317:4317", "127.0.0.1:4318:4318"]
    );
    assert_eq!(
        ports("server"),
        ["127.0.0.1:3000:3000"],
        "the API is public only through the page's nginx and its limits"
    );
    assert!(ports("web").contains(&"8080:8080".to_owned()));

    let env = &service(&compose, "server")["environment"];
    assert_eq!(
        env["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://otel-collector:4318"
    );
    assert_eq!(env["SERVER_ADDR"], "0.0.0.0:3000");
    let origins = env["CORS_ALLOWED_ORIGINS"].as_str().expect("origins");
    assert!(origins.split(',').any(|o| o == "http://localhost:8080") && !origins.contains('*'));
    assert!(read("server/Dockerfile").contains("EXPOSE 3000"));
    assert!(read("web/Dockerfile").contains("EXPOSE 8080"));
}

#[test]
fn compose_starts_in_order_behind_healthchecks() {
    let compose = compose();
    let depends = |name: &str, on: &str| {
        service(&compose, name)["depends_on"][on]["condition"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        depends("otel-collector", "jaeger").as_deref(),
        Some("service_healthy")
    );
    let jaeger_check = strings(&service(&compose, "jaeger")["healthcheck"]["test"]).join(" ");
    assert!(
        jaeger_check.contains("wget --spider") && jaeger_check.contains(":13133/status"),
        "Jaeger's own health endpoint, with the wget its image has: {jaeger_check}"
    );
    assert_eq!(
        depends("server", "otel-collector").as_deref(),
        Some("service_started")
    );
    assert_eq!(depends("web", "server").as_deref(), Some("service_healthy"));
    assert_eq!(
        depends("web", "otel-collector"),
        None,
        "nginx resolves the collector per request: it need not wait for it"
    );
    let server_check = strings(&service(&compose, "server")["healthcheck"]["test"]).join(" ");
    assert!(
        server_check.contains("http://127.0.0.1:3000/healthz"),
        "{server_check}"
    );
    let web_check = strings(&service(&compose, "web")["healthcheck"]["test"]).join(" ");
    assert!(web_check.contains("http://127.0.0.1:8080/"), "{web_check}");
}

#[test]
fn the_database_lives_in_a_named_volume() {
    let compose = compose();
    let volumes = strings(&service(&compose, "server")["volumes"]);
    let data = volumes
        .iter()
        .find(|v| v.contains(":/data"))
        .expect("a volume on /data");
    let name = data.split(':').next().expect("name");
    assert!(
        !name.starts_with('.') && !name.starts_with('/'),
        "a named volume, not a bind mount: {data}"
    );
    assert!(
        compose["volumes"][name].is_null() || compose["volumes"][name].is_mapping(),
        "declared at the top level"
    );
    assert!(
        compose["volumes"]
            .as_mapping()
            .expect("top-level volumes")
            .contains_key(name),
        "{name} is declared"
    );
    assert!(
        !read("server/Dockerfile").contains("VOLUME"),
        "no anonymous volume, lost on every `down`"
    );
}

/// The minor version of a `1.MINOR` image tag.
fn minor(version: &str) -> u32 {
    version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("not 1.MINOR: {version}"))
}

#[test]
fn the_images_build_from_current_bases_on_amd64_and_arm64_with_cached_dependencies() {
    for path in ["server/Dockerfile", "web/Dockerfile"] {
        let dockerfile = read(path);
        assert!(
            dockerfile.starts_with("# syntax=docker/dockerfile:1"),
            "{path}: BuildKit syntax"
        );
        let rust = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix("FROM rust:"))
            .expect("a rust build stage");
        let (version, rest) = rust.split_once('-').expect("rust:VERSION-DISTRO");
        assert!(minor(version) >= 97, "{path}: Rust 1.97 or newer: {rust}");
        assert!(rest.starts_with("trixie"), "{path}: trixie-based: {rust}");
        assert!(
            dockerfile.contains("--mount=type=cache,target=/usr/local/cargo/registry")
                && dockerfile.contains("--mount=type=cache,target=/src/target"),
            "{path}: dependencies cached between builds"
        );
    }
    assert!(read("server/Dockerfile").contains("FROM debian:trixie-slim"));
    let web = read("web/Dockerfile");
    let instructions: Vec<&str> = web
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        instructions
            .iter()
            .all(|l| !l.contains("cargo install trunk")),
        "trunk is not compiled"
    );
    for arch in ["x86_64", "aarch64"] {
        assert!(
            web.contains(&format!("{arch} ;;")),
            "a trunk release for {arch}"
        );
    }
    assert!(
        web.contains("unknown-linux-musl.tar.gz"),
        "trunk's static build"
    );
    let nginx = web
        .lines()
        .find_map(|l| l.strip_prefix("FROM nginx:"))
        .expect("nginx stage");
    let (version, flavour) = nginx.split_once('-').expect("nginx:VERSION-alpine");
    assert_eq!(flavour, "alpine");
    assert!(minor(version) >= 29, "a current nginx: {nginx}");
}

#[test]
fn the_scale_profile_runs_three_replicas_on_postgres_behind_their_own_page() {
    let compose = compose();
    for name in ["postgres", "server-replica", "web-scale"] {
        assert_eq!(
            strings(&service(&compose, name)["profiles"]),
            ["scale"],
            "{name} only in the scale profile"
        );
    }
    for name in ["jaeger", "jaeger-data", "otel-collector", "server", "web"] {
        assert!(
            service(&compose, name)["profiles"].is_null(),
            "{name} in every profile: the default stack stays SQLite and one server"
        );
    }
    assert_eq!(
        env_of(service(&compose, "server"), "DATABASE_URL"),
        "sqlite:///data/checkout.db"
    );

    // PostgreSQL: persistent, with a healthcheck the replicas wait for.
    let postgres = service(&compose, "postgres");
    let volume = strings(&postgres["volumes"])
        .into_iter()
        .find(|v| v.ends_with(":/var/lib/postgresql/data"))
        .expect("the data directory on a volume");
    let volume = volume.split(':').next().expect("name");
    assert!(
        compose["volumes"]
            .as_mapping()
            .expect("volumes")
            .contains_key(volume)
    );
    assert!(strings(&postgres["healthcheck"]["test"]).contains(&"pg_isready".to_owned()));

    // Three replicas on it, reached only through the page's proxy.
    let replica = service(&compose, "server-replica");
    assert_eq!(replica["deploy"]["replicas"].as_u64(), Some(3));
    assert!(
        replica["ports"].is_null(),
        "three replicas cannot share a host port"
    );
    assert_eq!(
        replica["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    let url = env_of(replica, "DATABASE_URL");
    let expected = format!(
        "postgres://{user}:{password}@postgres:5432/{db}",
        user = env_of(postgres, "POSTGRES_USER"),
        password = env_of(postgres, "POSTGRES_PASSWORD"),
        db = env_of(postgres, "POSTGRES_DB"),
    );
    assert_eq!(
        url, expected,
        "the replicas log in as PostgreSQL was set up"
    );
    let replica_port = env_of(replica, "SERVER_ADDR")
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();

    // Their page: the same image, its proxy pointed at the replicas, on its own port and origin.
    let web = service(&compose, "web-scale");
    assert_eq!(
        env_of(web, "API_UPSTREAM"),
        format!("server-replica:{replica_port}")
    );
    assert_eq!(strings(&web["ports"]), ["8081:8080"]);
    assert!(env_of(replica, "CORS_ALLOWED_ORIGINS").contains("http://localhost:8081"));
    let nginx = read("web/nginx.conf");
    assert!(
        nginx_location(&nginx, "/api/").contains("set $server http://${API_UPSTREAM};"),
        "the proxy's upstream comes from the environment"
    );
    let dockerfile = read("web/Dockerfile");
    let default_port = env_of(service(&compose, "server"), "SERVER_ADDR");
    assert!(
        dockerfile.contains(&format!(
            "ENV API_UPSTREAM=server:{}",
            default_port.rsplit(':').next().expect("port")
        )),
        "the default page still reaches the default server"
    );
    assert!(
        dockerfile.contains("/etc/nginx/templates/default.conf.template"),
        "installed where the nginx image fills templates in"
    );
}

#[test]
fn jaeger_keeps_its_traces_in_badger_on_a_volume() {
    let compose = compose();
    let jaeger = service(&compose, "jaeger");
    let volumes = strings(&jaeger["volumes"]);
    assert!(volumes.contains(&"./jaeger/config.yaml:/etc/jaeger/config.yaml:ro".to_owned()));
    assert_eq!(
        strings(&jaeger["command"]),
        ["--config=/etc/jaeger/config.yaml"]
    );
    let data = volumes
        .iter()
        .find(|v| !v.starts_with('.'))
        .expect("a named volume");
    let (volume, mount) = data.split_once(':').expect("volume:path");
    assert!(
        compose["volumes"]
            .as_mapping()
            .expect("volumes")
            .contains_key(volume)
    );
    // Jaeger runs as 10001: the volume is handed to it before it starts.
    let init = service(&compose, "jaeger-data");
    assert!(strings(&init["volumes"]).contains(&data.clone()));
    assert!(strings(&init["command"]).join(" ").contains("10001:10001"));
    assert_eq!(
        jaeger["depends_on"]["jaeger-data"]["condition"].as_str(),
        Some("service_completed_successfully")
    );

    let config = as_compose_runs(("jaeger/config.yaml", "jaeger"));
    let store = config["extensions"]["jaeger_query"]["storage"]["traces"]
        .as_str()
        .expect("the query's store");
    assert_eq!(
        config["exporters"]["jaeger_storage_exporter"]["trace_storage"].as_str(),
        Some(store),
        "spans are written where the UI reads"
    );
    let badger = &config["extensions"]["jaeger_storage"]["backends"][store]["badger"];
    assert_eq!(badger["ephemeral"].as_bool(), Some(false));
    for dir in ["keys", "values"] {
        let path = badger["directories"][dir].as_str().expect(dir);
        assert!(
            path.starts_with(&format!("{mount}/")),
            "{dir} on the volume: {path}"
        );
    }
    let pipeline = &config["service"]["pipelines"]["traces"];
    assert_eq!(strings(&pipeline["receivers"]), ["otlp"]);
    assert_eq!(
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].as_str(),
        Some("0.0.0.0:4317"),
        "where the collector sends (jaeger:4317)"
    );
    assert!(strings(&config["service"]["extensions"]).contains(&"healthcheckv2".to_owned()));
    assert_eq!(
        config["extensions"]["healthcheckv2"]["http"]["endpoint"].as_str(),
        Some("0.0.0.0:13133"),
        "what the compose healthcheck asks"
    );
}

/// The server and its replicas run with the export settings the drills and the end-to-end tests
/// run it with (`test_support::server::RECOMMENDED_EXPORT`), so what those prove holds in compose.
#[test]
fn compose_runs_the_server_with_the_recommended_export_settings() {
    let compose = compose();
    for name in ["server", "server-replica"] {
        for (variable, value) in test_support::server::RECOMMENDED_EXPORT {
            assert_eq!(env_of(service(&compose, name), variable), value, "{name}");
        }
    }
}
