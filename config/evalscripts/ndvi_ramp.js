//VERSION=3
// NDVI as a colour ramp: bare ground and water in greys and browns, sparse vegetation in
// yellows, dense vegetation in greens; no data transparent. Written for this gateway.

function setup() {
  return {
    input: [{ bands: ["B04", "B08", "dataMask"] }],
    output: { bands: 4, sampleType: "AUTO" },
  };
}

// [NDVI, colour]: linear between the stops, the end colours beyond them.
const STOPS = [
  [-0.4, 0x1a1a1a],
  [-0.1, 0xa0a0a0],
  [0.0, 0xd9cfb8],
  [0.1, 0xcdb876],
  [0.2, 0xb8c459],
  [0.35, 0x7fae45],
  [0.5, 0x4a8a2c],
  [0.7, 0x1f6414],
  [0.9, 0x0a3d05],
];
const ramp = new ColorRampVisualizer(STOPS);

function evaluatePixel(sample) {
  const ndvi = index(sample.B08, sample.B04);
  const [red, green, blue] = ramp.process(ndvi);
  return [red, green, blue, sample.dataMask];
}
