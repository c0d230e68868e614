// Builds the optional zero-copy addon. Placeholder until native/ lands: never fails install.
process.exit(0);
