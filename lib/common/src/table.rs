//! Tables for people, laid out as the docker CLI's tabwriter does (minimum width 10,
//! padding 3): every column as wide as its widest cell, so no value pushes the next one
//! out of line; the last column is not padded.

/// Docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// The header and rows as lines of text, each ending in a newline.
pub fn render<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.as_ref().chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate().take(columns) {
            text.push_str(cell);
            if i + 1 < columns {
                let width = (widths[i] + PADDING).max(MIN_WIDTH);
                text.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(AsRef::as_ref));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

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
}
