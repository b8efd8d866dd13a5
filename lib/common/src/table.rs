//! Tables for people, laid out as the docker CLI's tabwriter does (minimum width 10,
//! padding 3): every column as wide as its widest cell, so no value pushes the next one
//! out of line; the last column is not padded.

/// Docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// The header and rows as lines of text, each ending in a newline.
pub fn render<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let columns = header.len();
    let mut lines: Vec<Vec<&str>> = vec![header.to_vec()];
    lines.extend(
        rows.iter()
            .map(|row| row.iter().take(columns).map(AsRef::as_ref).collect()),
    );
    layout(&lines)
}

/// Lines of tab-separated cells (what a `table …` template renders) laid out as Go's
/// tabwriter does: a cell ended by a tab belongs to a column, and is padded to it.
pub fn align_tabs(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    layout(&lines)
}

/// Every column as wide as its widest cell (a line's last cell, ended by no tab, counts for
/// none and is not padded).
fn layout(lines: &[Vec<&str>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for cells in lines {
        for (width, cell) in widths
            .iter_mut()
            .zip(&cells[..cells.len().saturating_sub(1)])
        {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in lines {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            text.push_str(cell);
            if i + 1 < cells.len() {
                let width = (widths[i] + PADDING).max(MIN_WIDTH);
                text.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{align_tabs, render};

    #[test]
    fn columns_fit_their_widest_cell() {
        let rows = vec![
            vec!["localhost/some/long-repository-name", "latest", "1.2MB"],
            vec!["busybox", "1", "900kB"],
        ];
        let text = render(&["REPOSITORY", "TAG", "SIZE"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "REPOSITORY                            TAG       SIZE",
                "localhost/some/long-repository-name   latest    1.2MB",
                "busybox                               1         900kB",
            ]
        );
    }

    #[test]
    fn empty_trailing_cells_leave_no_trailing_spaces() {
        let text = render(&["NAME", "PORTS"], &[vec!["web", ""]]);
        assert_eq!(text, "NAME      PORTS\nweb\n");
        assert_eq!(render::<&str>(&["A", "B"], &[]), "A         B\n");
    }

    #[test]
    fn tab_separated_lines_align_as_go_s_tabwriter() {
        let text = align_tabs("NAMES\tSTATUS\nsome-long-container-name\tUp\nx\tExited (0)\n");
        assert_eq!(
            text,
            "NAMES                      STATUS\n\
             some-long-container-name   Up\n\
             x                          Exited (0)\n"
        );
        assert_eq!(align_tabs("one\n"), "one\n");
    }
}
