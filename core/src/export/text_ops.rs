//! ONNX's text operators, for tract, which has none: `StringNormalizer` and `TfIdfVectorizer`
//! (standard ONNX) and onnxruntime's `com.microsoft.Tokenizer`, the three that skl2onnx composes
//! into a TF-IDF pipeline and that Triton's onnxruntime backend runs. Each follows its
//! specification and onnxruntime's kernel, for the attributes Kiln writes (see
//! [`super::servable`]); an attribute Kiln never writes is refused when the graph is read, so a
//! graph these cannot run exactly fails loudly rather than scoring differently.
//!
//! - `StringNormalizer`: `case_change_action` LOWER, UPPER or NONE; no stop words.
//! - `Tokenizer`: `tokenexp` (a regular expression in RE2 syntax, run here by the `regex` crate,
//!   which reads the syntax Kiln writes the same way), `mincharnum`, `mark` and `pad_value`. As
//!   in onnxruntime, each string gives the leftmost matches in turn; a match of fewer than
//!   `mincharnum` characters is skipped by one character; rows are padded to the longest, and a
//!   batch with no token at all gives a last axis of length 0.
//! - `TfIdfVectorizer`: string pools, contiguous n-grams (`max_skip_count` 0), mode `TF` (the
//!   count of each n-gram of the pool, at its `ngram_indexes` column).

use std::collections::HashMap;

use regex::Regex;
use tract_onnx::model::{Onnx, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_ndarray::{ArrayD, ArrayViewD};

/// tract's ONNX reader, knowing the three text operators.
pub fn onnx() -> Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register
        .insert("StringNormalizer", string_normalizer);
    onnx.op_register.insert("Tokenizer", tokenizer);
    onnx.op_register.insert("TfIdfVectorizer", tfidf_vectorizer);
    onnx
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn string_normalizer(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let stopwords: Vec<String> = node.get_attr_opt_vec("stopwords")?.unwrap_or_default();
    if !stopwords.is_empty() {
        bail!(
            "StringNormalizer {}: stop words are not supported",
            node.name
        );
    }
    let action: Option<String> = node.get_attr_opt("case_change_action")?;
    let case = match action.as_deref().unwrap_or("NONE") {
        "NONE" => Case::Keep,
        "LOWER" => Case::Lower,
        "UPPER" => Case::Upper,
        other => bail!(
            "StringNormalizer {}: case_change_action {other:?}",
            node.name
        ),
    };
    Ok((Box::new(StringNormalizer { case }), vec![]))
}

fn tokenizer(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let separators: Vec<String> = node.get_attr_opt_vec("separators")?.unwrap_or_default();
    if !separators.is_empty() {
        bail!(
            "Tokenizer {}: only tokenexp is supported, not separators",
            node.name
        );
    }
    let pattern: String = node.get_attr("tokenexp")?;
    let regex = Regex::new(&pattern)
        .map_err(|e| format_err!("Tokenizer {}: tokenexp {pattern:?}: {e}", node.name))?;
    let mincharnum: i64 = node.get_attr("mincharnum")?;
    if mincharnum < 1 {
        bail!("Tokenizer {}: mincharnum must be at least 1", node.name);
    }
    let mark: i64 = node.get_attr("mark")?;
    let pad: String = node.get_attr("pad_value")?;
    let tokens = ctx.template.symbols.new_with_prefix("tokens");
    let op = Tokenizer {
        pattern,
        regex,
        mincharnum: mincharnum as usize,
        mark: mark != 0,
        pad,
        tokens,
    };
    Ok((Box::new(op), vec![]))
}

fn tfidf_vectorizer(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let mode: String = node.get_attr("mode")?;
    if mode != "TF" {
        bail!(
            "TfIdfVectorizer {}: only mode TF is supported, not {mode}",
            node.name
        );
    }
    let skip: i64 = node.get_attr_opt("max_skip_count")?.unwrap_or(0);
    if skip != 0 {
        bail!("TfIdfVectorizer {}: max_skip_count must be 0", node.name);
    }
    let min_n: i64 = node.get_attr("min_gram_length")?;
    let max_n: i64 = node.get_attr("max_gram_length")?;
    let pool: Vec<String> = node.get_attr_vec("pool_strings")?;
    let counts: Vec<i64> = node.get_attr_vec("ngram_counts")?;
    let indexes: Vec<i64> = node.get_attr_vec("ngram_indexes")?;
    let op = TfIdfVectorizer::new(min_n, max_n, &pool, &counts, &indexes)
        .map_err(|e| format_err!("TfIdfVectorizer {}: {e}", node.name))?;
    Ok((Box::new(op), vec![]))
}

/// The output fact of an op whose output has the input's shape and `datum`.
fn same_shape(
    s: &mut Solver<'_>,
    inputs: &[TensorProxy],
    outputs: &[TensorProxy],
) -> TractResult<()> {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 1)?;
    s.equals(&inputs[0].datum_type, String::datum_type())?;
    s.equals(&inputs[0].rank, &outputs[0].rank)?;
    s.equals(&inputs[0].shape, &outputs[0].shape)?;
    Ok(())
}

fn strings(input: &TValue) -> TractResult<ArrayViewD<'_, String>> {
    input.to_plain_array_view::<String>()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StringNormalizer {
    case: Case,
}

impl Op for StringNormalizer {
    fn name(&self) -> StaticName {
        "StringNormalizer".into()
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for StringNormalizer {
    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(self.eval(&EvalContext::out_of_plan(), inputs)?))
    }

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = &inputs[0];
        let out = strings(input)?.mapv(|s| match self.case {
            Case::Keep => s,
            Case::Lower => s.to_lowercase(),
            Case::Upper => s.to_uppercase(),
        });
        Ok(tvec!(out.into_tensor().into_tvalue()))
    }
}

impl TypedOp for StringNormalizer {
    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(String::datum_type().fact(inputs[0].shape.iter())))
    }
}

impl InferenceRulesOp for StringNormalizer {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        same_shape(s, inputs, outputs)?;
        s.equals(&outputs[0].datum_type, String::datum_type())
    }

    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn to_typed(
        &self,
        _source: &InferenceModel,
        node: &InferenceNode,
        target: &mut TypedModel,
        mapping: &HashMap<OutletId, OutletId>,
    ) -> TractResult<TVec<OutletId>> {
        target.wire_node(&node.name, self.clone(), &[mapping[&node.inputs[0]]])
    }
}

#[derive(Debug, Clone)]
struct Tokenizer {
    pattern: String,
    regex: Regex,
    mincharnum: usize,
    mark: bool,
    pad: String,
    /// The length of the tokens' axis, known once a batch is tokenised.
    tokens: Symbol,
}

impl PartialEq for Tokenizer {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.pattern,
            self.mincharnum,
            self.mark,
            &self.pad,
            &self.tokens,
        ) == (
            &other.pattern,
            other.mincharnum,
            other.mark,
            &other.pad,
            &other.tokens,
        )
    }
}

impl Eq for Tokenizer {}

impl Tokenizer {
    /// The tokens of `text`, as onnxruntime's `TokenExpression` finds them.
    fn tokens<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut found = Vec::new();
        if text.chars().count() < self.mincharnum {
            return found;
        }
        let mut start = 0;
        while let Some(m) = self.regex.find_at(text, start) {
            if m.as_str().chars().count() >= self.mincharnum {
                found.push(m.as_str());
                start = m.end();
            } else {
                // Skip one character past the start of the short match.
                start = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            }
            if start > text.len() {
                break;
            }
        }
        found
    }
}

impl Op for Tokenizer {
    fn name(&self) -> StaticName {
        "Tokenizer".into()
    }

    fn mints_runtime_symbols(&self) -> bool {
        true
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for Tokenizer {
    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(self.eval(&EvalContext::out_of_plan(), inputs)?))
    }

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = strings(&inputs[0])?;
        let rows: Vec<Vec<&str>> = input.iter().map(|s| self.tokens(s)).collect();
        let longest = rows.iter().map(Vec::len).max().unwrap_or(0);
        let width = if longest == 0 {
            0
        } else {
            longest + 2 * usize::from(self.mark)
        };
        let mut cells = Vec::with_capacity(rows.len() * width);
        for row in &rows {
            if width == 0 {
                break;
            }
            if self.mark {
                cells.push("\u{2}".to_owned());
            }
            cells.extend(row.iter().map(|t| (*t).to_owned()));
            if self.mark {
                cells.push("\u{3}".to_owned());
            }
            cells.extend(std::iter::repeat_n(
                self.pad.clone(),
                width - row.len() - 2 * usize::from(self.mark),
            ));
        }
        let mut shape: Vec<usize> = input.shape().to_vec();
        shape.push(width);
        let out = ArrayD::from_shape_vec(shape, cells)?;
        Ok(tvec!(out.into_tensor().into_tvalue()))
    }
}

impl TypedOp for Tokenizer {
    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.tokens.to_dim());
        Ok(tvec!(String::datum_type().fact(shape)))
    }
}

impl InferenceRulesOp for Tokenizer {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].rank, inputs[0].rank.bex() + 1)?;
        s.given(&inputs[0].rank, move |s, rank| {
            for axis in 0..rank as usize {
                s.equals(&outputs[0].shape[axis], &inputs[0].shape[axis])?;
            }
            s.equals(&outputs[0].shape[rank as usize], self.tokens.to_dim())
        })
    }

    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn to_typed(
        &self,
        _source: &InferenceModel,
        node: &InferenceNode,
        target: &mut TypedModel,
        mapping: &HashMap<OutletId, OutletId>,
    ) -> TractResult<TVec<OutletId>> {
        target.wire_node(&node.name, self.clone(), &[mapping[&node.inputs[0]]])
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TfIdfVectorizer {
    min_n: usize,
    max_n: usize,
    /// Each n-gram of the pool and its output column.
    grams: HashMap<Vec<String>, usize>,
    width: usize,
}

impl TfIdfVectorizer {
    fn new(
        min_n: i64,
        max_n: i64,
        pool: &[String],
        counts: &[i64],
        indexes: &[i64],
    ) -> Result<TfIdfVectorizer, String> {
        if min_n < 1 || max_n < min_n {
            return Err(format!("gram lengths {min_n}..{max_n}"));
        }
        if counts.len() != max_n as usize {
            return Err(format!(
                "{} ngram_counts for grams up to {max_n}",
                counts.len()
            ));
        }
        let mut grams = HashMap::new();
        for (n, &start) in counts.iter().enumerate() {
            let end = counts.get(n + 1).copied().unwrap_or(pool.len() as i64);
            let (start, end) = (start as usize, end as usize);
            let n = n + 1;
            if start > end || end > pool.len() || (end - start) % n != 0 {
                return Err(format!("the {n}-grams' pool slice {start}..{end}"));
            }
            for gram in pool[start..end].chunks(n) {
                let at = grams.len();
                let column = *indexes
                    .get(at)
                    .ok_or_else(|| format!("no ngram_indexes entry for n-gram {at}"))?;
                if column < 0 {
                    return Err(format!("ngram_indexes holds {column}"));
                }
                grams.insert(gram.to_vec(), column as usize);
            }
        }
        if grams.len() != indexes.len() {
            return Err(format!(
                "{} n-grams in the pool and {} ngram_indexes",
                grams.len(),
                indexes.len()
            ));
        }
        let width = indexes.iter().max().map_or(0, |&m| m as usize + 1);
        Ok(TfIdfVectorizer {
            min_n: min_n as usize,
            max_n: max_n as usize,
            grams,
            width,
        })
    }

    fn count_row(&self, tokens: &[String], out: &mut [f32]) {
        for n in self.min_n..=self.max_n.min(tokens.len()) {
            for window in tokens.windows(n) {
                if let Some(&column) = self.grams.get(window) {
                    out[column] += 1.0;
                }
            }
        }
    }
}

impl Op for TfIdfVectorizer {
    fn name(&self) -> StaticName {
        "TfIdfVectorizer".into()
    }

    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for TfIdfVectorizer {
    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(self.eval(&EvalContext::out_of_plan(), inputs)?))
    }

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = strings(&inputs[0])?;
        let (rows, shape) = match input.shape() {
            [c] => (
                input.clone().into_shape_with_order((1, *c))?,
                vec![self.width],
            ),
            [n, c] => (
                input.clone().into_shape_with_order((*n, *c))?,
                vec![*n, self.width],
            ),
            other => bail!("TfIdfVectorizer reads [C] or [N, C], not {other:?}"),
        };
        let mut out = vec![0f32; rows.nrows() * self.width];
        for (row, target) in rows
            .rows()
            .into_iter()
            .zip(out.chunks_mut(self.width.max(1)))
        {
            match row.as_slice() {
                Some(tokens) => self.count_row(tokens, target),
                None => self.count_row(&row.to_vec(), target),
            }
        }
        Ok(tvec!(Tensor::from_shape(&shape, &out)?.into_tvalue()))
    }
}

impl TypedOp for TfIdfVectorizer {
    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape: TVec<TDim> = match inputs[0].rank() {
            1 => tvec!(self.width.to_dim()),
            2 => tvec!(inputs[0].shape[0].clone(), self.width.to_dim()),
            rank => bail!("TfIdfVectorizer reads [C] or [N, C], not rank {rank}"),
        };
        Ok(tvec!(f32::datum_type().fact(shape)))
    }
}

impl InferenceRulesOp for TfIdfVectorizer {
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, String::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given(&inputs[0].rank, move |s, rank| {
            if rank == 2 {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
            }
            s.equals(&outputs[0].shape[rank as usize - 1], self.width.to_dim())
        })
    }

    fn as_op(&self) -> &dyn Op {
        self
    }

    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }

    fn to_typed(
        &self,
        _source: &InferenceModel,
        node: &InferenceNode,
        target: &mut TypedModel,
        mapping: &HashMap<OutletId, OutletId>,
    ) -> TractResult<TVec<OutletId>> {
        target.wire_node(&node.name, self.clone(), &[mapping[&node.inputs[0]]])
    }
}
