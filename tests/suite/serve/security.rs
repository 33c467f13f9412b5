//! What the dashboard refuses: paths outside the run directories (`..`,
//! `%2e%2e`, absolute paths, symlinks), other methods, bodies, long
//! targets, a foreign `Host` on loopback, requests without the token on a
//! non-loopback bind; and bad input to `nas-actor serve` (exit 2).

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use nas_actor::serve::guard::{open_inside, GuardError};

use super::{finished_run, get, get_with, raw, serve};

const SECRET: &str = "the-secret-outside-the-run";

#[test]
fn paths_outside_the_run_directories_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    finished_run(&dir, 8);
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, SECRET).expect("secret");
    // Child 2's trial.log is a symlink to the secret; child 3's directory is one.
    std::fs::create_dir_all(dir.join("children/2")).expect("mkdir");
    std::os::unix::fs::symlink(&secret, dir.join("children/2/trial.log")).expect("symlink");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("trial.log"), SECRET).expect("secret log");
    std::os::unix::fs::symlink(&outside, dir.join("children/3")).expect("symlink dir");
    let (addr, _) = serve(std::slice::from_ref(&dir), "127.0.0.1");

    let secret_path = secret.display().to_string();
    let targets = [
        "/../secret.txt".to_string(),
        "/assets/../../secret.txt".into(),
        "/assets/%2e%2e/%2e%2e/secret.txt".into(),
        "/assets/..%2f..%2fsecret.txt".into(),
        "/assets/%2E%2E%2F%2E%2E%2Fsecret.txt".into(),
        "/api/runs/0/../../../secret.txt".into(),
        "/api/runs/0/children/..%2f..%2fsecret.txt".into(),
        "/api/runs/0/children/2/../../../secret.txt".into(),
        format!("/assets/{secret_path}"),
        format!("/assets/{}", secret_path.replace('/', "%2f")),
        format!("/{secret_path}"),
        format!("/{}", tmp.path().join("run/config.toml").display()),
        "/config.toml".into(),
        "/children.jsonl".into(),
        "/etc/passwd".into(),
        "//etc/passwd".into(),
        "/assets/..\\..\\secret.txt".into(),
    ];
    for t in &targets {
        let a = get(addr, t);
        assert!(a.status >= 400, "{t}: {} {}", a.status, a.body);
        assert!(!a.body.contains(SECRET), "{t} leaked the secret");
        assert!(!a.body.contains("[experiment]"), "{t} leaked the config");
    }
    // Absolute-form request targets too.
    let a = raw(
        addr,
        &format!("GET http://127.0.0.1:{}/../secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", addr.port()),
    );
    assert!(a.status >= 400 && !a.body.contains(SECRET));
    // Through symlinks, a child's log is simply not there.
    for id in [2, 3] {
        let a = get(addr, &format!("/api/runs/0/children/{id}"));
        assert!(
            !a.body.contains(SECRET),
            "child {id}'s symlinked log leaked"
        );
        if a.status == 200 {
            assert!(a.json()["log"].is_null());
        }
    }
    // The guard itself.
    let root = dir.canonicalize().expect("root");
    for bad in [
        "../secret.txt",
        "/etc/passwd",
        "children/../../secret.txt",
        "",
    ] {
        assert!(
            matches!(
                open_inside(&root, Path::new(bad)),
                Err(GuardError::NotPlain(_))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        open_inside(&root, Path::new("children/2/trial.log")),
        Err(GuardError::Outside(_))
    ));
    assert!(matches!(
        open_inside(&root, Path::new("children/3/trial.log")),
        Err(GuardError::Outside(_))
    ));
    assert!(open_inside(&root, Path::new("children.jsonl")).is_ok());

    // Only GET, no bodies, bounded targets, this machine's Host.
    let host = format!("Host: 127.0.0.1:{}\r\nConnection: close\r\n", addr.port());
    let post = raw(
        addr,
        &format!("POST /api/runs HTTP/1.1\r\n{host}Content-Length: 0\r\n\r\n"),
    );
    assert_eq!(post.status, 405);
    let del = raw(addr, &format!("DELETE /api/runs/0 HTTP/1.1\r\n{host}\r\n"));
    assert_eq!(del.status, 405);
    let body = raw(
        addr,
        &format!("GET /api/runs HTTP/1.1\r\n{host}Content-Length: 5\r\n\r\nhello"),
    );
    assert_eq!(body.status, 413);
    let long = get(addr, &format!("/api/runs?x={}", "a".repeat(5000)));
    assert!(
        long.status == 414 || long.status == 431 || long.status == 400,
        "{}",
        long.status
    );
    let huge_header = get_with(
        addr,
        "/api/runs",
        &format!("X-Big: {}\r\n", "b".repeat(200_000)),
    );
    assert!(huge_header.status >= 400, "{}", huge_header.status);
    let foreign = raw(
        addr,
        "GET /api/runs HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(foreign.status, 403);
    let local = raw(
        addr,
        &format!(
            "GET /api/runs HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            addr.port()
        ),
    );
    assert_eq!(local.status, 200);
}

#[test]
fn a_non_loopback_bind_needs_the_token() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    finished_run(&dir, 8);
    let (addr, token) = serve(std::slice::from_ref(&dir), "0.0.0.0");
    let token = token.expect("a non-loopback bind has a token");
    assert_eq!(token.len(), 32);
    for target in ["/", "/api/runs", "/api/runs/0/overview", "/assets/app.js"] {
        let a = get(addr, target);
        assert_eq!(a.status, 401, "{target} without the token");
        assert!(!a.body.contains("synthetic"));
    }
    let wrong = get(addr, &format!("/api/runs?token={}", "0".repeat(32)));
    assert_eq!(wrong.status, 401);
    let bearer = get_with(
        addr,
        "/api/runs",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(bearer.json()[0]["done"], 8);
    // The address printed (…/?token=) opens the page and sets the cookie the page's requests carry.
    let page = get(addr, &format!("/?token={token}"));
    assert_eq!(page.status, 200);
    let cookie = page.header("set-cookie").expect("a cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains(&token));
    let with_cookie = get_with(
        addr,
        "/api/runs/0/overview",
        &format!("Cookie: nas_actor_token={token}\r\n"),
    );
    assert_eq!(with_cookie.json()["done"], 8);
    // Another machine's Host is fine once the token is there.
    let remote = raw(
        addr,
        &format!("GET /api/runs HTTP/1.1\r\nHost: gpu-node-7:8080\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(remote.status, 200);
}

/// `nas-actor serve` with `args`: exit code and stderr (it must end at once).
fn serve_binary(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nas-actor"))
        .arg("serve")
        .args(args)
        .output()
        .expect("run nas-actor serve");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_to_serve_is_named_with_its_fix_and_exit_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-such-run");
    let (code, err) = serve_binary(&[missing.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no-such-run") && err.contains("does not exist"),
        "{err}"
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let (code, err) = serve_binary(&[empty.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("not a run directory") && err.contains("config.toml"),
        "{err}"
    );

    let dir = tmp.path().join("run");
    finished_run(&dir, 4);
    let d = dir.to_str().expect("utf-8");
    // An address of no interface here (TEST-NET-1).
    let (code, err) = serve_binary(&[d, "--host", "192.0.2.1", "--port", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("192.0.2.1") && err.contains("check --host"),
        "{err}"
    );

    let taken = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, err) = serve_binary(&[d, "--port", &port]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&port) && err.contains("--port"), "{err}");
    drop(taken);
}
