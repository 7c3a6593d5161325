// Writes tests/LowBit.Tests/IO/Fixtures/ggml-written.gguf with llama.cpp's own gguf writer (ggml 0.25.1), and prints the
// tensor table as ggml sees it, so the C# reader is checked against an independent writer. Build and run:
//   B=<node-llama-cpp>/bins; gcc -I<node-llama-cpp>/include -o make_gguf make_gguf.c -L$B -lggml-base -Wl,-rpath,$B
//   ./make_gguf ggml-written.gguf ggml-dequantized.bin > ggml-written.txt
// ggml-dequantized.bin holds every tensor's values as ggml's own to_float gives them (float32, tensors in order).
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "ggml.h"

struct gguf_context;
struct gguf_context * gguf_init_empty(void);
void gguf_free(struct gguf_context * ctx);
void gguf_set_val_u8(struct gguf_context * ctx, const char * key, uint8_t val);
void gguf_set_val_i8(struct gguf_context * ctx, const char * key, int8_t val);
void gguf_set_val_u16(struct gguf_context * ctx, const char * key, uint16_t val);
void gguf_set_val_i16(struct gguf_context * ctx, const char * key, int16_t val);
void gguf_set_val_u32(struct gguf_context * ctx, const char * key, uint32_t val);
void gguf_set_val_i32(struct gguf_context * ctx, const char * key, int32_t val);
void gguf_set_val_f32(struct gguf_context * ctx, const char * key, float val);
void gguf_set_val_u64(struct gguf_context * ctx, const char * key, uint64_t val);
void gguf_set_val_i64(struct gguf_context * ctx, const char * key, int64_t val);
void gguf_set_val_f64(struct gguf_context * ctx, const char * key, double val);
void gguf_set_val_bool(struct gguf_context * ctx, const char * key, bool val);
void gguf_set_val_str(struct gguf_context * ctx, const char * key, const char * val);
void gguf_set_arr_data(struct gguf_context * ctx, const char * key, int type, const void * data, size_t n);
void gguf_set_arr_str(struct gguf_context * ctx, const char * key, const char ** data, size_t n);
void gguf_add_tensor(struct gguf_context * ctx, const struct ggml_tensor * tensor);
bool gguf_write_to_file(const struct gguf_context * ctx, const char * fname, bool only_meta);
size_t gguf_get_data_offset(const struct gguf_context * ctx);
int64_t gguf_find_tensor(const struct gguf_context * ctx, const char * name);
size_t gguf_get_tensor_offset(const struct gguf_context * ctx, int64_t tensor_id);

static uint32_t state = 12345;
static float next_float(void) { state = state * 1664525u + 1013904223u; return (float)((state >> 8) & 0xFFFF) / 32768.0f - 1.0f; }

static void add(struct ggml_context * g, struct gguf_context * ctx, const char * name, enum ggml_type type, int64_t ne0, int64_t ne1) {
    struct ggml_tensor * t = ne1 > 0 ? ggml_new_tensor_2d(g, type, ne0, ne1) : ggml_new_tensor_1d(g, type, ne0);
    ggml_set_name(t, name);
    int64_t rows = ne1 > 0 ? ne1 : 1;
    float src[4096];
    for (int64_t i = 0; i < ne0 * rows; i++) src[i] = next_float();
    if (type == GGML_TYPE_F32) memcpy(t->data, src, ne0 * rows * sizeof(float));
    else ggml_quantize_chunk(type, src, t->data, 0, rows, ne0, NULL);
    gguf_add_tensor(ctx, t);
}

int main(int argc, char ** argv) {
    struct ggml_init_params params = { 16 * 1024 * 1024, NULL, false };
    struct ggml_context * g = ggml_init(params);
    struct gguf_context * ctx = gguf_init_empty();
    gguf_set_val_str(ctx, "general.architecture", "llama");
    gguf_set_val_str(ctx, "general.name", "LowBit fixture \x1b[31mred\x1b[0m\nsecond line");
    gguf_set_val_u8(ctx, "test.u8", 200);
    gguf_set_val_i8(ctx, "test.i8", -100);
    gguf_set_val_u16(ctx, "test.u16", 60000);
    gguf_set_val_i16(ctx, "test.i16", -30000);
    gguf_set_val_u32(ctx, "test.u32", 4000000000u);
    gguf_set_val_i32(ctx, "test.i32", -2000000000);
    gguf_set_val_f32(ctx, "test.f32", 0.15625f);
    gguf_set_val_u64(ctx, "test.u64", 18000000000000000000ull);
    gguf_set_val_i64(ctx, "test.i64", -9000000000000000000ll);
    gguf_set_val_f64(ctx, "test.f64", 2.718281828459045);
    gguf_set_val_bool(ctx, "test.bool", true);
    int32_t ints[5] = { 1, -2, 3, -4, 5 };
    gguf_set_arr_data(ctx, "test.i32_array", 5 /* GGUF_TYPE_INT32 */, ints, 5);
    const char * words[3] = { "<s>", "</s>", "hello" };
    gguf_set_arr_str(ctx, "tokenizer.ggml.tokens", words, 3);
    add(g, ctx, "token_embd.weight", GGML_TYPE_F16, 64, 5);
    add(g, ctx, "output_norm.weight", GGML_TYPE_F32, 64, 0);
    add(g, ctx, "blk.0.attn_q.weight", GGML_TYPE_Q8_0, 64, 4);
    add(g, ctx, "blk.0.ffn_up.weight", GGML_TYPE_Q4_0, 64, 3);
    add(g, ctx, "blk.0.ffn_gate.weight", GGML_TYPE_Q4_1, 64, 2);
    add(g, ctx, "blk.0.ffn_down.weight", GGML_TYPE_Q2_K, 256, 2);
    add(g, ctx, "blk.0.attn_k.weight", GGML_TYPE_Q4_K, 256, 2);
    add(g, ctx, "blk.0.attn_v.weight", GGML_TYPE_Q6_K, 256, 2);
    add(g, ctx, "blk.0.attn_output.weight", GGML_TYPE_BF16, 32, 3);
    add(g, ctx, "blk.1.attn_q.weight", GGML_TYPE_Q5_0, 64, 3);
    add(g, ctx, "blk.1.attn_k.weight", GGML_TYPE_Q3_K, 256, 2);
    add(g, ctx, "blk.1.attn_v.weight", GGML_TYPE_Q5_1, 64, 3);
    add(g, ctx, "blk.1.ffn_up.weight", GGML_TYPE_Q5_K, 256, 2);
    if (!gguf_write_to_file(ctx, argv[1], false)) return 1;
    // The table as ggml has it: name, type id, ne0, ne1, offset from the data section, bytes.
    printf("data_offset %zu\n", gguf_get_data_offset(ctx));
    const char * names[] = { "token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight",
        "blk.0.ffn_gate.weight", "blk.0.ffn_down.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight",
        "blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.attn_v.weight", "blk.1.ffn_up.weight" };
    FILE * dequantized = fopen(argv[2], "wb");
    if (!dequantized) return 1;
    for (int i = 0; i < 13; i++) {
        struct ggml_tensor * t = ggml_get_tensor(g, names[i]);
        static float values[4096];
        int64_t n = ggml_nelements(t);
        if (t->type == GGML_TYPE_F32) memcpy(values, t->data, n * sizeof(float));
        else ggml_get_type_traits(t->type)->to_float(t->data, values, n);
        fwrite(values, sizeof(float), n, dequantized);
        int64_t id = gguf_find_tensor(ctx, names[i]);
        printf("%s %d %lld %lld %zu %zu\n", names[i], (int)t->type, (long long)t->ne[0], (long long)t->ne[1],
               gguf_get_tensor_offset(ctx, id), ggml_nbytes(t));
    }
    fclose(dequantized);
    gguf_free(ctx);
    ggml_free(g);
    return 0;
}
