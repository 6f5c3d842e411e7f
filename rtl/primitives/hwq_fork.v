// hwq primitive: stream fork (broadcast), one input stream -> N output streams carrying the same beats.
//
// Every input beat is delivered once to each of the N outputs, in order. Output i offers the beat
// (m_axis_tvalid[i]) until it takes it; a per-output "taken" flag remembers which outputs already have the
// current beat, so a slow output never makes a fast one see a beat twice. The input beat is consumed
// (s_axis_tready) in the cycle in which every output has it or takes it. m_axis_tdata is s_axis_tdata
// (shared by every output). Combinational paths: s_axis_tready from m_axis_tready, m_axis_tvalid from
// s_axis_tvalid (put registered blocks, e.g. hwq_skid_buffer or hwq_fifo, after the outputs). Without
// back-pressure one beat passes per cycle. No storage besides the N taken flags.

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_fork #
(
    // data bits per beat
    parameter DATA_WIDTH = 8,
    // number of outputs
    parameter N = 2
)
(
    input  wire                  clk,
    input  wire                  rst,

    input  wire [DATA_WIDTH-1:0] s_axis_tdata,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,

    output wire [DATA_WIDTH-1:0] m_axis_tdata,
    output wire [N-1:0]          m_axis_tvalid,
    input  wire [N-1:0]          m_axis_tready
);

// synthesis translate_off
initial begin
    if (DATA_WIDTH < 1 || N < 1) begin
        $display("Error: hwq_fork: DATA_WIDTH and N must be >= 1 (got %0d, %0d)", DATA_WIDTH, N);
        $finish;
    end
end
// synthesis translate_on

// output i already took the current input beat
reg [N-1:0] taken_reg;

assign m_axis_tdata = s_axis_tdata;
assign m_axis_tvalid = {N{s_axis_tvalid}} & ~taken_reg;
assign s_axis_tready = &(taken_reg | m_axis_tready);

always @(posedge clk) begin
    if (s_axis_tvalid && s_axis_tready) begin
        taken_reg <= {N{1'b0}};
    end else begin
        taken_reg <= taken_reg | (m_axis_tvalid & m_axis_tready);
    end
    if (rst) begin
        taken_reg <= {N{1'b0}};
    end
end

endmodule

`resetall
