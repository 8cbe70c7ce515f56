//! Fresh databases for tests that need a PostgreSQL server.
//!
//! Tests find the server through [`SERVER_ENV`] (a connection string whose
//! user may create databases; `scripts/postgres-test-server.sh` starts one and
//! prints it). Each test gets a database of its own, so tests run in
//! parallel; it is dropped when the [`TestDatabase`] is.
//!
//! When [`SERVER_ENV`] is unset, [`TestDatabase::create`] fails with a
//! message saying how to start a server, unless [`SKIP_ENV`] is `1`: then it
//! returns `Ok(None)` and the test prints a skip line and passes.

use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Config, NoTls};

/// The environment variable naming the test server (a connection string).
pub const SERVER_ENV: &str = "KMSGOV_TEST_POSTGRES";

/// Set to `1` to skip the tests that need a PostgreSQL server.
pub const SKIP_ENV: &str = "KMSGOV_SKIP_POSTGRES_TESTS";

/// A database created for one test, dropped (with its connections) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    admin: Config,
    name: String,
    config: Config,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the test server; `Ok(None)` when
    /// the tests are skipped (after printing why, naming `test`).
    ///
    /// # Errors
    ///
    /// The server is not configured (and not skipped), or the database
    /// cannot be created.
    pub fn create(test: &str) -> Result<Option<TestDatabase>, String> {
        let Ok(server) = std::env::var(SERVER_ENV) else {
            if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
                eprintln!("SKIPPED {test}: no PostgreSQL server ({SKIP_ENV}=1)");
                return Ok(None);
            }
            return Err(format!(
                "{test} needs a PostgreSQL server: set {SERVER_ENV} to a connection string \
                 (`export {SERVER_ENV}=$(scripts/postgres-test-server.sh)` starts one), \
                 or set {SKIP_ENV}=1 to skip these tests"
            ));
        };
        let admin: Config = server
            .parse()
            .map_err(|e| format!("{SERVER_ENV}: not a connection string: {e}"))?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "kmsgov_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = admin
            .connect(NoTls)
            .map_err(|e| format!("{SERVER_ENV}: cannot connect: {e}"))?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("cannot create the test database {name}: {e}"))?;
        let mut config = admin.clone();
        config.dbname(&name);
        Ok(Some(TestDatabase {
            admin,
            name,
            config,
        }))
    }

    /// The configuration that reaches this database.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A `postgres://` URL that reaches this database.
    #[must_use]
    pub fn url(&self) -> String {
        let c = &self.config;
        let mut s = String::from("postgres://");
        if let Some(user) = c.get_user() {
            s.push_str(&encode(user.as_bytes()));
            if let Some(password) = c.get_password() {
                s.push(':');
                s.push_str(&encode(password));
            }
            s.push('@');
        }
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .zip(
                c.get_ports()
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat(None)),
            )
            .map(|(h, port)| {
                let host = match h {
                    postgres::config::Host::Tcp(h) => encode(h.as_bytes()),
                    postgres::config::Host::Unix(p) => encode(p.as_os_str().as_encoded_bytes()),
                };
                match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        s.push_str(&hosts.join(","));
        s.push('/');
        s.push_str(&self.name);
        s
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = self.admin.connect(NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
