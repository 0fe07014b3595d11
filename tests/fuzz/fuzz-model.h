/* The libFuzzer entry point, also driven by fuzz-mutate (no libFuzzer needed). */
#pragma once
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* How many inputs each parser accepted: shows how deep the mutations still reach. */
extern uint64_t fuzz_cards_accepted, fuzz_safetensors_accepted;
