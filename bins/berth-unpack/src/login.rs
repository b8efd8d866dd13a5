//! `berth-unpack login` and `logout`, as `docker login`/`logout`: checked against the
//! registry, kept where docker keeps them (berth-distribution's `login`).

use anyhow::Result;

pub struct Login<'a> {
    pub registry: Option<&'a str>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_stdin: bool,
    pub insecure: Vec<String>,
}

/// `login`: checked against the registry first, stored only if it answers yes.
pub fn login(login: Login<'_>) -> Result<()> {
    use berth_distribution::{auth::Credentials, login as remote};
    let registry = remote::registry_of(login.registry);
    let username = login
        .username
        .filter(|u| !u.is_empty())
        .ok_or_else(|| anyhow::anyhow!("give a user name with --username"))?;
    let password = match (login.password, login.password_stdin) {
        (Some(_), true) => anyhow::bail!("--password and --password-stdin are mutually exclusive"),
        (Some(password), false) => password,
        (None, true) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => anyhow::bail!("give the password with --password-stdin (or --password)"),
    };
    let credentials = Credentials { username, password };
    remote::verify(&registry, &credentials, &login.insecure)?;
    let place = remote::store(&registry, &credentials)?;
    eprintln!("credentials for {registry} stored in {place}");
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(registry: Option<&str>) -> Result<()> {
    let registry = berth_distribution::login::registry_of(registry);
    if berth_distribution::login::erase(&registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(())
}
