//! Several daemons at once (`-H A -H B`): a call goes to all of them in parallel, and a
//! container may be named `HOST/NAME` to pick one. A daemon that fails is reported by the
//! caller beside the others' answers.

use std::future::Future;

use crate::error::{ClientError, Result};
use crate::Client;

#[derive(Clone)]
pub struct Clients(pub Vec<Client>);

impl Clients {
    pub fn several(&self) -> bool {
        self.0.len() > 1
    }

    pub fn first(&self) -> &Client {
        &self.0[0]
    }

    /// `call` on every daemon at once, answers in the order of the hosts.
    pub async fn each<T, F, Fut>(&self, call: F) -> Vec<(Client, Result<T>)>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let calls = self.0.iter().map(|c| {
            let c = c.clone();
            let fut = call(c.clone());
            async move { (c, fut.await) }
        });
        futures_util::future::join_all(calls).await
    }

    /// `GET path` (JSON) on every daemon at once, turned into table rows by `to_rows`
    /// (given the host's name when there are several, for the HOST column); the rows in
    /// the order of the hosts, and the hosts that failed with their errors.
    pub async fn rows<T, R, F>(
        &self,
        path: &str,
        to_rows: F,
    ) -> (Vec<R>, Vec<(String, ClientError)>)
    where
        T: serde::de::DeserializeOwned,
        F: Fn(T, Option<&str>) -> Vec<R>,
    {
        let answers = self
            .each(|c| async move { c.get_json::<T>(path).await })
            .await;
        let several = self.several();
        let mut rows = Vec::new();
        let mut failed = Vec::new();
        for (client, answer) in answers {
            match answer {
                Ok(list) => rows.extend(to_rows(list, several.then_some(client.name.as_str()))),
                Err(e) => failed.push((client.name.clone(), e)),
            }
        }
        (rows, failed)
    }

    /// The daemon and the name within it of `reference`: `HOST/NAME` picks the host named;
    /// with one host the reference is its own; with several, the one daemon that knows it.
    pub async fn locate(&self, reference: &str) -> Result<(Client, String)> {
        for client in &self.0 {
            if let Some(name) = reference
                .strip_prefix(client.name.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
            {
                return Ok((client.clone(), name.to_string()));
            }
        }
        if !self.several() {
            return Ok((self.first().clone(), reference.to_string()));
        }
        let path = format!("/containers/{reference}/json");
        let found: Vec<Client> = self
            .each(|c| {
                let path = path.clone();
                async move { c.get_json::<serde_json::Value>(&path).await }
            })
            .await
            .into_iter()
            .filter_map(|(c, r)| r.ok().map(|_| c))
            .collect();
        match found.as_slice() {
            [one] => Ok((one.clone(), reference.to_string())),
            [] => Err(ClientError::Daemon {
                status: 404,
                message: format!("No such container: {reference}"),
            }),
            _ => Err(ClientError::Usage(format!(
                "{reference} is on several daemons: name it HOST/{reference}"
            ))),
        }
    }
}
