//! What the commands print.

use anyhow::Result;
use berth_image::store::GcReport;
use berth_image::views::rows;
use berth_image::{reference, Digest, ImageError, Store};
use serde::Serialize;

pub fn json_line<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string(value).expect("record serialises")
    );
}

pub fn list(store: &Store, quiet: bool, json: bool) -> Result<()> {
    let rows = rows(store)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if quiet {
        let mut seen = Vec::new();
        for row in rows.iter().filter(|r| {
            !seen.contains(&r.id) && {
                seen.push(r.id.clone());
                true
            }
        }) {
            println!("{}", short_id(&row.id));
        }
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                vec![
                    row.repository.clone(),
                    row.tag.clone(),
                    short_id(&row.id),
                    berth_common::human::ago(&row.created),
                    human_size(row.size),
                ]
            })
            .collect();
        print!(
            "{}",
            berth_common::table::render(
                &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
                &cells
            )
        );
    }
    Ok(())
}

fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Decimal units, as `docker images` prints them.
pub fn human_size(bytes: u64) -> String {
    berth_common::units::decimal_size(bytes).replace(".000", "")
}

/// `rm` of one reference: a name untags; an ID removes the image (with --force when it
/// has several names).
pub fn remove(store: &Store, asked: &str, force: bool) -> Result<()> {
    let image = store.resolve(asked)?;
    let by_name = reference::normalize(asked)
        .ok()
        .filter(|n| image.names.contains(n));
    let names = match &by_name {
        Some(name) => Some(vec![name.clone()]),
        None if image.names.len() > 1 && !force => {
            return Err(ImageError::InUse {
                image: image.id.to_string(),
                count: image.names.len(),
                names: image.names.join(", "),
            }
            .into());
        }
        None => None,
    };
    let (untagged, _report) = store.remove_image(&image, names.as_deref())?;
    for name in untagged {
        println!("Untagged: {name}");
    }
    if !store.images()?.iter().any(|i| i.id == image.id) {
        println!("Deleted: {}", image.id);
    }
    Ok(())
}

pub fn pruned(images: &[Digest], report: &GcReport) {
    if !images.is_empty() {
        println!("Deleted Images:");
        for id in images {
            println!("deleted: {id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.bytes));
}
