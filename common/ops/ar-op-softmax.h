/* Placeholder: the softmax ops are being written. */
#pragma once
