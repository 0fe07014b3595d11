/* Placeholder: the embed ops are being written. */
#pragma once
