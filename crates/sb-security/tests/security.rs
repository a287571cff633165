use sb_security::policy::RequestContext;
use sb_security::{authorize, Action, Principal, Role, RoleGrant};

#[test]
fn role_action_matrix_matches_the_table() {
    let table = include_str!("role_matrix.tsv");
    let mut lines = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let roles: Vec<Role> = header[1..]
        .iter()
        .map(|r| Role::parse(r).expect("known role"))
        .collect();
    assert_eq!(roles.len(), Role::ALL.len(), "every role has a column");
    let mut actions_seen = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        let action = Action::ALL
            .into_iter()
            .find(|a| a.as_str() == cells[0])
            .unwrap_or_else(|| panic!("table names unknown action {}", cells[0]));
        actions_seen.push(action);
        for (role, cell) in roles.iter().zip(&cells[1..]) {
            let principal = Principal {
                id: "t".into(),
                user: "t".into(),
                name: "t".into(),
                role: RoleGrant::built_in(*role),
                assumed_from: None,
                session_actions: None,
                mfa_present: false,
                session: None,
            };
            let allowed = authorize(&principal, action, &RequestContext::unconditional()).is_ok();
            let expected = match *cell {
                "allow" => true,
                "deny" => false,
                other => panic!("cell must be allow or deny, not {other}"),
            };
            assert_eq!(allowed, expected, "{} for {}", action, role.as_str());
        }
    }
    for action in Action::ALL {
        assert!(
            actions_seen.contains(&action),
            "{action} has no row in role_matrix.tsv"
        );
    }
}

#[test]
fn a_denial_names_who_and_what() {
    let p = Principal {
        id: "K1".into(),
        user: "ci".into(),
        name: "ci".into(),
        role: RoleGrant::built_in(Role::Integration),
        assumed_from: None,
        session_actions: None,
        mfa_present: false,
        session: None,
    };
    let err = authorize(&p, Action::ConfigApply, &RequestContext::unconditional()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ci (role Integration) is not allowed to perform config:Apply"
    );
}

/// Codes from an independent TOTP implementation (oathtool) are accepted, and a code
/// used once is refused the second time.
#[test]
fn codes_from_oathtool_are_accepted_once() {
    use sb_security::totp::{TotpError, TotpSecret};
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v oathtool"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "oathtool is required under CI=true"
        );
        eprintln!("skipping: oathtool is not installed");
        return;
    }
    let secret = TotpSecret::generate().unwrap();
    for offset in [0i64, 30, 3_600] {
        let now = 1_800_000_000 + offset;
        let at = jiff::Timestamp::from_second(now)
            .unwrap()
            .strftime("%Y-%m-%d %H:%M:%S UTC")
            .to_string();
        let out = std::process::Command::new("oathtool")
            .args(["--totp", "-b", "--now", &at, &secret.base32()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let code = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let step = secret
            .verify(&code, now, None)
            .expect("oathtool's code is accepted");
        assert_eq!(
            secret.verify(&code, now, Some(step)),
            Err(TotpError::Reused)
        );
    }
}
