/* Placeholder: the attention ops are being written. */
#pragma once
