//! Prints tract's FMA cost per node of a reference model (debugging aid).
#![allow(clippy::unwrap_used, missing_docs)]
use seam_compiler_bridge::onnx_build::*;
use tract_onnx::prelude::*;
fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "mobilenet-v1-0.25".into());
    let r = mlperf_tiny(7).into_iter().find(|r| r.name == name).unwrap();
    let bytes = to_bytes(&r.model);
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .into_typed()
        .unwrap()
        .into_decluttered()
        .unwrap();
    for node in &model.nodes {
        let inputs: Vec<&TypedFact> = node.inputs.iter().map(|o| model.outlet_fact(*o).unwrap()).collect();
        let costs = node.op.cost(&inputs).unwrap();
        let out = model.outlet_fact(OutletId::new(node.id, 0)).unwrap();
        println!("{:40} {:20} {:?} {:?}", node.name, node.op.name(), out.shape, costs);
    }
}
