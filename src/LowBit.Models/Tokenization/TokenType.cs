namespace LowBit.Models;

/// <summary>A vocabulary entry's kind, as GGUF's <c>tokenizer.ggml.token_type</c> (llama.cpp's <c>llama_token_type</c>) stores it.</summary>
public enum TokenType
{
    /// <summary>Not set (treated as <see cref="Normal"/>).</summary>
    Undefined = 0,

    /// <summary>An ordinary piece of text.</summary>
    Normal = 1,

    /// <summary>The unknown token.</summary>
    Unknown = 2,

    /// <summary>A control token (BOS, EOS, chat markers): never produced from text unless special tokens are parsed.</summary>
    Control = 3,

    /// <summary>A user-defined token: matched in text before the tokenizer runs.</summary>
    UserDefined = 4,

    /// <summary>An unused slot.</summary>
    Unused = 5,

    /// <summary>A byte-fallback token, <c>&lt;0xXX&gt;</c>: one byte of UTF-8.</summary>
    Byte = 6,
}
