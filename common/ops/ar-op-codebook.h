/* Placeholder: the codebook ops are being written. */
#pragma once
