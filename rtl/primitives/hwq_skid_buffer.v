// hwq primitive: valid/ready skid buffer (two entries, registered ready).
//
// Breaks the combinational ready path between two streaming blocks without losing throughput:
// s_axis_tready comes straight from a register (high while the skid entry is empty), so a beat
// that arrives in the cycle the consumer stalls is parked in the skid entry. One beat per cycle
// passes when the consumer is ready; latency one cycle; the order of beats is kept.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_skid_buffer #
(
    // data bits per beat
    parameter DATA_WIDTH = 8
)
(
    input  wire                  clk,
    input  wire                  rst,

    input  wire [DATA_WIDTH-1:0] s_axis_tdata,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,

    output wire [DATA_WIDTH-1:0] m_axis_tdata,
    output wire                  m_axis_tvalid,
    input  wire                  m_axis_tready
);

// synthesis translate_off
initial begin
    if (DATA_WIDTH < 1) begin
        $display("Error: hwq_skid_buffer: DATA_WIDTH must be >= 1 (got %0d)", DATA_WIDTH);
        $finish;
    end
end
// synthesis translate_on

// output entry (valid flags are cleared by rst, which must be held for at least one cycle)
reg [DATA_WIDTH-1:0] out_data_reg, out_data_next;
reg                  out_valid_reg, out_valid_next;
// skid entry: holds a beat accepted while the output entry was stalled
reg [DATA_WIDTH-1:0] skid_data_reg, skid_data_next;
reg                  skid_valid_reg, skid_valid_next;

assign s_axis_tready = !skid_valid_reg;
assign m_axis_tdata = out_data_reg;
assign m_axis_tvalid = out_valid_reg;

// the output entry can be loaded this cycle
wire out_free = !out_valid_reg || m_axis_tready;

always @* begin
    out_data_next = out_data_reg;
    out_valid_next = out_valid_reg;
    skid_data_next = skid_data_reg;
    skid_valid_next = skid_valid_reg;

    if (out_free) begin
        if (skid_valid_reg) begin
            // drain the parked beat first (no input is accepted while it is parked)
            out_data_next = skid_data_reg;
            out_valid_next = 1'b1;
            skid_valid_next = 1'b0;
        end else begin
            out_data_next = s_axis_tdata;
            out_valid_next = s_axis_tvalid;
        end
    end else if (s_axis_tvalid && !skid_valid_reg) begin
        // accepted while the output stalls: park it
        skid_data_next = s_axis_tdata;
        skid_valid_next = 1'b1;
    end
end

always @(posedge clk) begin
    out_data_reg <= out_data_next;
    out_valid_reg <= out_valid_next;
    skid_data_reg <= skid_data_next;
    skid_valid_reg <= skid_valid_next;

    if (rst) begin
        out_valid_reg <= 1'b0;
        skid_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
