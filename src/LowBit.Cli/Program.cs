using LowBit.Cli.Commands;

// lowbit: quantize safetensors checkpoints, inspect them, benchmark the kernels, or run the demo.
return LowBitCommand.Run(args);
