/* Placeholder: the matmul ops are being written. */
#pragma once
