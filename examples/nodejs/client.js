#!/usr/bin/env node
// A mip-mesh client in Node.js: loads protos/mip/v1/*.proto at run time (no generated code),
// lists the algorithms, then runs k-means and prints the progress events and the typed result.
//
//   npm ci
//   node client.js CONTROLLER_HOST:PORT [DATA_MODEL] [DATASET,DATASET,...]
//
// Prints one JSON object per line, the last one {"result": ...}; exits 1 on an error.
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = process.env.MIP_PROTO_ROOT || path.resolve(__dirname, "..", "..", "protos");

function loadControllerService() {
  const definition = protoLoader.loadSync("mip/v1/controller_service.proto", {
    includeDirs: [PROTO_ROOT],
    keepCase: true, // field names as in the .proto: data_model, numOfClusters stays as given
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true, // each RunExperimentResponse says which event it holds in .event
  });
  return grpc.loadPackageDefinition(definition).mip.v1.ControllerService;
}

// google.protobuf.Struct from a plain object, for the parameters. proto-loader hands Structs over as
// messages, and the well-known types keep protobufjs's camelCase field names (numberValue) even with
// keepCase. Results need no such code: StepResult.result_json is typed JSON text (integers stay
// integers, keys keep their order; a non-finite float is the string "NaN", "Infinity" or "-Infinity").
function toStruct(object) {
  const fields = {};
  for (const [key, value] of Object.entries(object)) fields[key] = toValue(value);
  return { fields };
}

function toValue(value) {
  if (value === null || value === undefined) return { nullValue: "NULL_VALUE" };
  if (typeof value === "number") return { numberValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value) };
}

function listAlgorithms(client) {
  return new Promise((resolve, reject) => {
    client.ListAlgorithms({}, { deadline: Date.now() + 30_000 }, (err, response) =>
      err ? reject(err) : resolve(response.algorithms));
  });
}

function listDatasets(client) {
  return new Promise((resolve, reject) => {
    client.ListDatasets({}, { deadline: Date.now() + 30_000 }, (err, response) =>
      err ? reject(err) : resolve(response.datasets));
  });
}

function runKmeans(client, dataModel, datasets) {
  const request = {
    steps: [{
      name: "clusters",
      algorithm: "kmeans",
      inputdata: { data_model: dataModel, datasets, y: ["hippocampus", "entorhinal"], x: [] },
      parameters: toStruct({ numOfClusters: 3, numOfIterations: 50, tolerance: 1e-6 }),
    }],
  };
  return new Promise((resolve, reject) => {
    const call = client.RunExperiment(request, { deadline: Date.now() + 300_000 });
    let result = null;
    call.on("data", (event) => {
      if (event.event === "result") {
        result = event.result.steps.map((step) => ({ step: step.step, algorithm: step.algorithm, result: JSON.parse(step.result_json) }));
      } else {
        console.log(JSON.stringify({ experiment_id: event.experiment_id, [event.event]: event[event.event] }));
      }
    });
    call.on("error", reject);
    call.on("end", () => (result ? resolve(result) : reject(new Error("the stream ended without a result"))));
  });
}

async function main() {
  const [address, dataModelArg, datasetsArg] = process.argv.slice(2);
  if (!address) {
    console.error("usage: node client.js CONTROLLER_HOST:PORT [DATA_MODEL] [DATASET,...]");
    process.exit(2);
  }
  const ControllerService = loadControllerService();
  const client = new ControllerService(address, grpc.credentials.createInsecure());
  try {
    const algorithms = await listAlgorithms(client);
    console.log(JSON.stringify({ algorithms: algorithms.map((a) => a.name) }));
    const dataModel = dataModelArg || "demo:1.0";
    const datasets = datasetsArg
      ? datasetsArg.split(",")
      : (await listDatasets(client)).filter((d) => d.data_model === dataModel).map((d) => d.code);
    const result = await runKmeans(client, dataModel, datasets);
    console.log(JSON.stringify({ result }));
  } finally {
    client.close();
  }
}

main().catch((err) => {
  console.error(`error: ${err.details || err.message}`);
  process.exit(1);
});
