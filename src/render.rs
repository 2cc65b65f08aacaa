//! What people read: tables (comfy-table), byte sizes (humansize), the match report.

use comfy_table::{presets, CellAlignment, Table};
use humansize::{format_size, FormatSizeOptions, BINARY};
use seam_registry::answer::compact_iri;
use seam_registry::matching::evaluate::local;
use seam_registry::matching::{MatchReport, Via};

/// Columns aligned on their left edges, two spaces apart, no borders, no trailing blanks.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(header.iter().copied());
    for row in rows {
        t.add_row(row.iter().map(String::as_str));
    }
    let last = header.len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
        column.set_cell_alignment(CellAlignment::Left);
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `b` bytes for people: `512 B`, `77.4 KiB`, `1.5 MiB`.
pub(crate) fn bytes(b: u64) -> String {
    let options = FormatSizeOptions::from(BINARY)
        .decimal_places(1)
        .space_after_value(true);
    format_size(b, options)
}

fn percent(part: u64, whole: Option<u64>) -> String {
    match whole {
        Some(w) if w > 0 => format!("{:.0}% of free", part as f64 * 100.0 / w as f64),
        _ => "free unknown".into(),
    }
}

/// The people's view of a match: a ranked table, what the latency figures assume, then the
/// rejected models and their reasons.
pub(crate) fn match_report(report: &MatchReport) -> String {
    let mut out = if report.board {
        format!(
            "Models for the board {} (its datasheet memory, nothing reserved for firmware)\n\n",
            compact_iri(&report.device)
        )
    } else {
        format!("Models for {}\n\n", compact_iri(&report.device))
    };
    let header = [
        "#",
        "model",
        "task",
        "accuracy",
        "est. latency",
        "RAM",
        "flash",
        "via",
        "runtime",
    ];
    let rows: Vec<Vec<String>> = report
        .compatible
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                (i + 1).to_string(),
                c.name.clone(),
                c.task.clone().unwrap_or_default(),
                c.accuracy.map_or("–".into(), |a| format!("{:.1}%", a * 100.0)),
                c.estimated_latency_ms.map_or("–".into(), |l| format!("{l:.2} ms")),
                format!("{} ({})", bytes(c.ram_bytes), percent(c.ram_bytes, report.free_ram)),
                format!(
                    "{} ({})",
                    bytes(c.flash_bytes),
                    percent(c.flash_bytes, report.free_flash)
                ),
                match c.via {
                    Via::AsIs => "as-is".into(),
                    Via::Int8 => "int8".into(),
                },
                compact_iri(&c.runtime),
            ]
        })
        .collect();
    out.push_str(&table(&header, &rows));
    if report.compatible.is_empty() {
        out.push_str("no model in the registry runs on this device\n");
    }
    // What every latency shown assumes, once per distinct assumption.
    let mut assumptions: Vec<String> = Vec::new();
    for c in &report.compatible {
        let line = match &c.latency_assumption {
            Some(a) => format!(
                "  {} on {} at {} MHz, {} {}: {} MACs/cycle, {}{}",
                compact_iri(&a.runtime),
                a.core.as_deref().unwrap_or("an unnamed core"),
                a.clock_hz as f64 / 1e6,
                local(&a.dtype),
                a.operator_class.as_deref().map_or("models".to_owned(), |k| {
                    match local(k) {
                        "DenseLayers" => "dense layers".to_owned(),
                        _ => "convolution layers".to_owned(),
                    }
                }),
                a.macs_per_cycle,
                a.basis,
                a.source.as_deref().map_or(String::new(), |s| format!(" ({s})"))
            ),
            None => format!(
                "  {} ({}): no estimate, no figure for this core, data type and class of model",
                c.name,
                compact_iri(&c.runtime)
            ),
        };
        if !assumptions.contains(&line) {
            assumptions.push(line);
        }
    }
    if !assumptions.is_empty() {
        out.push_str("\nLatency estimates assume (MACs ÷ (clock × MACs per cycle)):\n");
        for line in assumptions {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if let Some(rejected) = &report.rejected {
        out.push_str(&format!("\nRejected ({}):\n", rejected.len()));
        for r in rejected {
            out.push_str(&format!("  {}\n", r.name));
            for reason in &r.reasons {
                out.push_str(&format!("    {:<8} {}\n", reason.constraint.as_str(), reason.message));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_two_spaces_apart_without_trailing_blanks() {
        let t = table(
            &["#", "model"],
            &[vec!["1".into(), "kws".into()], vec!["10".into(), "".into()]],
        );
        assert_eq!(t, "#   model\n1   kws\n10\n");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(79_258), "77.4 KiB");
        assert_eq!(bytes(1_572_864), "1.5 MiB");
    }
}
