//! Issue 12 item 4: printing a model (Flax's `print(model)`) and its table
//! (`nnx.tabulate`), checked against what Flax 0.12 prints for the same model
//! (`tools/flax_reference/gen_print_model.py`).

use nnx::nn::{BatchNorm, Dropout, Linear};
use nnx::prelude::*;

#[derive(Module)]
struct Mlp {
    l1: Linear,
    bn: BatchNorm,
    drop: Dropout,
    l2: Linear,
    again: Shared<Linear>,
    tied: Shared<Linear>,
}

fn mlp() -> Mlp {
    let rngs = &mut Rngs::new(0);
    let tied = Shared::new(Linear::new(1, 1, rngs).unwrap());
    Mlp {
        l1: Linear::new(2, 3, rngs).unwrap(),
        bn: BatchNorm::new(3, rngs).unwrap(),
        drop: Dropout::new(0.5, rngs).unwrap(),
        l2: Linear::new(3, 1, rngs).unwrap(),
        again: tied.clone(),
        tied,
    }
}

/// The lines that carry structure, types, counts, shapes and dtypes (not the
/// random values or the hyperparameters, which differ in spelling), sorted:
/// field order differs (Flax: definition order, nnx: sorted paths).
fn structure_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("( # ") || l.contains("value=Array(shape=") || l.ends_with("(...)"))
        .collect();
    lines.sort_unstable();
    lines
}

#[test]
fn display_shows_what_flax_shows() {
    let flax = include_str!("data/summary/print_model.txt");
    let ours = nnx::display(&mlp());
    assert_eq!(
        structure_lines(&ours),
        structure_lines(flax),
        "nnx printed:\n{ours}"
    );
    // Sanity: the comparison covers every Variable and module of the model.
    assert_eq!(structure_lines(flax).len(), 27);
    assert!(ours.starts_with(
        "Mlp( # Param: 21 (84 B), BatchStat: 6 (24 B), RngState: 2 (12 B), Total: 29 (120 B)\n"
    ));
    // The tied Linear is shown once, then as `Linear(...)`, as Flax does.
    assert!(ours.contains("\n  tied=Linear(...)\n"));
}

#[test]
fn tabulate_counts_like_flax() {
    let text = nnx::tabulate(&mlp());
    // Flax 0.12's nnx.tabulate of the same model ends with these totals.
    let totals = text.lines().rev().nth(2).unwrap();
    assert_eq!(
        totals.split('│').map(str::trim).collect::<Vec<_>>(),
        ["", "", "Total", "6 (24 B)", "21 (84 B)", "2 (12 B)", ""]
    );
    assert_eq!(
        text.lines().last().unwrap().trim(),
        "Total Parameters: 29 (120 B)"
    );
    // One row per submodule, in path order; the tied Linear once.
    let paths: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('│'))
        .filter_map(|l| l.split('│').nth(2).map(str::trim).filter(|t| !t.is_empty()))
        .collect();
    assert_eq!(
        paths,
        [
            "Mlp",
            "Linear",
            "BatchNorm",
            "Dropout",
            "RngStream",
            "Linear",
            "Linear",
            "Total"
        ]
    );
    assert!(text.contains("│ l1        │ Linear    │                  │ bias: float32[3]     │"));
    assert!(text.contains("│           │           │ var: float32[3]  │ scale: float32[3]    │"));
}

#[test]
fn transparent_variants_print_as_their_layer() {
    let rngs = &mut Rngs::new(0);
    let layer: nnx::nn::Layer = Linear::new(1, 2, rngs).unwrap().into();
    let text = nnx::display(&layer);
    assert!(text.starts_with("Linear( # Param: 4 (16 B)"), "{text}");
    assert!(!text.contains("Layer::"), "{text}");
    let seq = nnx::nn::Sequential::new(vec![layer, nnx::nn::Activation::Relu.into()]);
    let table = nnx::tabulate(&seq);
    assert!(table.contains("layers/0 │ Linear"), "{table}");
    assert!(table.contains("layers/1 │ Activation::Relu"), "{table}");
}

/// The cells of a rich-style table, a row per entry: each cell's lines joined
/// by `\n`, trimmed (column widths differ between Flax and nnx).
fn table_cells(text: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<Vec<String>>> = Vec::new();
    let mut open = false;
    for line in text.lines() {
        if line.starts_with(['┏', '┡', '├', '└']) {
            open = false;
            continue;
        }
        let Some(sep) = ['│', '┃'].into_iter().find(|&c| line.starts_with(c)) else {
            continue;
        };
        let cells: Vec<String> = line
            .split(sep)
            .skip(1)
            .map(|c| c.trim().to_string())
            .collect();
        let cells = cells[..cells.len() - 1].to_vec();
        if !open {
            rows.push(cells.iter().map(|_| Vec::new()).collect());
            open = true;
        }
        let row = rows.last_mut().unwrap();
        for (col, cell) in row.iter_mut().zip(cells) {
            col.push(cell);
        }
    }
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|lines| lines.join("\n").trim().to_string())
                .collect()
        })
        .collect()
}

mod with_inputs {
    use nnx::nn::{Activation, BatchNorm, Dropout, Embed, Linear, Sequential};
    use nnx::prelude::*;
    use nnx::tensor::Tensor;

    #[derive(Module)]
    struct Block {
        linear: Linear,
        bn: BatchNorm,
        dropout: Dropout,
    }

    impl Block {
        fn new(din: usize, dout: usize, rngs: &mut Rngs) -> nnx::Result<Block> {
            Ok(Block {
                linear: Linear::new(din, dout, rngs)?,
                bn: BatchNorm::new(dout, rngs)?,
                dropout: Dropout::new(0.2, rngs)?,
            })
        }

        fn forward(&mut self, x: &Tensor, record: bool) -> nnx::Result<Tensor> {
            let h = self.bn.forward(&self.linear.forward(x)?)?;
            let y = self.dropout.forward(&h)?.relu();
            if record {
                nnx::record::call(self, x, &y);
            }
            Ok(y)
        }
    }

    /// Flax's model of `tools/flax_reference/gen_tabulate.py`.
    #[derive(Module)]
    struct Net {
        block1: Block,
        block2: Block,
        proj: Linear,
        head: Sequential<nnx::nn::Layer>,
        embed: Embed,
        unused: Linear,
    }

    impl Net {
        fn new() -> nnx::Result<Net> {
            let rngs = &mut Rngs::new(0);
            Ok(Net {
                block1: Block::new(4, 8, rngs)?,
                block2: Block::new(8, 2, rngs)?,
                proj: Linear::new(2, 2, rngs)?,
                head: Sequential::new(vec![
                    Linear::new(2, 3, rngs)?.into(),
                    Activation::Relu.into(),
                    Linear::new(3, 1, rngs)?.into(),
                ]),
                embed: Embed::new(5, 2, rngs)?,
                unused: Linear::new(2, 2, rngs)?,
            })
        }

        fn forward(&mut self, x: &Tensor, record: bool) -> nnx::Result<(Tensor, Tensor, Tensor)> {
            let y = self.block1.forward(x, record)?;
            let y = self.block2.forward(&y, record)?;
            let y = self.proj.forward(&y)?;
            let y = self.proj.forward(&y)?;
            let z = self.proj.forward(&y.reshape(&[1, 3, 2])?)?;
            Ok((self.head.forward(&y)?, z, self.embed.attend(&y)?))
        }
    }

    fn table(record: bool) -> String {
        let net = Net::new().unwrap();
        nnx::tabulate_with(&net, &Tensor::ones(&[3, 4]), |m, x| m.forward(x, record)).unwrap()
    }

    #[test]
    fn tabulate_with_shows_what_flax_shows() {
        let flax = include_str!("data/summary/tabulate_calls.txt");
        let ours = table(true);
        let (want, got) = (super::table_cells(flax), super::table_cells(&ours));
        assert_eq!(got, want, "nnx:\n{ours}\nFlax:\n{flax}");
        // Sanity: header, 15 rows (Net, 2 x 4 block rows, proj twice,
        // head and its two Linears, embed/attend) and the totals.
        assert_eq!(want.len(), 17);
        assert_eq!(ours.lines().next().map(str::trim), Some("Net Summary"));
        assert_eq!(
            ours.lines().last().map(str::trim),
            flax.lines().last().map(str::trim)
        );
    }

    #[test]
    fn a_module_that_does_not_record_shows_no_inputs_or_outputs() {
        let rows = super::table_cells(&table(false));
        let block1 = rows.iter().find(|r| r[0] == "block1").unwrap();
        assert_eq!(block1[..4], ["block1", "Block", "", ""]);
        assert_eq!(block1[4..], ["16 (64 B)", "56 (224 B)", "2 (12 B)"]);
        // Still where Flax has it: before the layers it calls.
        let paths: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(paths[..4], ["path", "", "block1", "block1/linear"]);
    }

    #[test]
    fn errors_of_the_call_propagate_and_the_model_is_untouched() {
        let net = Net::new().unwrap();
        let err = nnx::tabulate_with(&net, &Tensor::ones(&[3, 5]), |m, x| m.forward(x, true));
        assert_eq!(
            err.unwrap_err().to_string(),
            "shape mismatch at x: expected (..., 4), found (3, 5)"
        );
        let before = net.state().to_string();
        nnx::tabulate_with(&net, &Tensor::ones(&[3, 4]), |m, x| m.forward(x, true)).unwrap();
        // BatchNorm statistics and RNG counters moved in the copy only, as in Flax.
        assert_eq!(net.state().to_string(), before);
    }

    #[test]
    fn a_tabulate_inside_the_call_records_apart() {
        let net = Net::new().unwrap();
        let mut inner = String::new();
        let outer = nnx::tabulate_with(&net, &Tensor::ones(&[3, 4]), |m, x| {
            let y = m.block1.forward(x, true)?;
            inner = nnx::tabulate_with(&m.proj, &Tensor::ones(&[1, 2]), |p, x| p.forward(x))?;
            m.block2.forward(&y, true)
        })
        .unwrap();
        let paths = |t: &str| -> Vec<String> {
            super::table_cells(t)
                .into_iter()
                .map(|r| r[0].clone())
                .collect()
        };
        assert_eq!(paths(&inner), ["path", "", ""]);
        assert_eq!(
            paths(&outer),
            [
                "path",
                "",
                "block1",
                "block1/linear",
                "block1/bn",
                "block1/dropout",
                "block2",
                "block2/linear",
                "block2/bn",
                "block2/dropout",
                // Never called, and of a type that recorded no call: shown.
                "embed",
                ""
            ]
        );
    }
}

#[test]
fn attention_rows_match_flax() {
    use nnx::nn::{AttentionArgs, MultiHeadAttention};
    use nnx::tensor::Tensor;
    let mha = MultiHeadAttention::new(2, 4, &mut Rngs::new(0)).unwrap();
    let (q, k) = (Tensor::ones(&[1, 3, 4]), Tensor::ones(&[1, 5, 4]));
    let mask = ndarray::ArrayD::from_elem(vec![1, 2, 3, 5], true);
    let ours = nnx::tabulate_with(&mha, &(&q, &k), |m, (q, k)| {
        let args = AttentionArgs {
            inputs_k: Some(k),
            mask: Some(&mask),
            ..Default::default()
        };
        m.forward_with(q, args)
    })
    .unwrap();
    let flax = include_str!("data/summary/tabulate_attention.txt");
    let (got, want) = (table_cells(&ours), table_cells(flax));
    assert_eq!(got.len(), want.len(), "nnx:\n{ours}");
    for (g, w) in got.iter().zip(&want) {
        // Flax's projections also show the keyword `out_sharding: None` they
        // receive inside the layer; nnx's projections take no keywords.
        let flax_inputs = w[2]
            .trim_start_matches("- ")
            .replace("\nout_sharding: None", "");
        let inputs = if w[0] == "query" || w[0] == "key" || w[0] == "value" || w[0] == "out" {
            flax_inputs
        } else {
            w[2].clone()
        };
        assert_eq!(
            (&g[0], &g[1], &g[2], &g[3..]),
            (&w[0], &w[1], &inputs, &w[3..]),
            "nnx:\n{ours}"
        );
    }
}
