/* Placeholder: the conv ops are being written. */
#pragma once
