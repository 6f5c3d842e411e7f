// hwq primitive: one stage of a stalling pipeline, a register or a plain wire.
//
// With REGISTER = 1 the stage captures in_valid/in_data on every clock edge where ce is high
// (ce = "the pipeline advances"); valid is cleared by the synchronous reset, data is not reset.
// With REGISTER = 0 the stage is a wire (and clk, rst, ce are unused).

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hwq_pipe_stage #
(
    // data bits carried by the stage
    parameter WIDTH = 8,
    // 1: register, 0: wire
    parameter REGISTER = 1
)
(
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire             clk,
    input  wire             rst,
    input  wire             ce,
    /* verilator lint_on UNUSEDSIGNAL */

    input  wire             in_valid,
    input  wire [WIDTH-1:0] in_data,
    output wire             out_valid,
    output wire [WIDTH-1:0] out_data
);

// synthesis translate_off
initial begin
    if (WIDTH < 1) begin
        $display("Error: hwq_pipe_stage: WIDTH must be >= 1 (got %0d)", WIDTH);
        $finish;
    end
end
// synthesis translate_on

generate
    if (REGISTER != 0) begin : g_reg
        reg             valid_reg;
        reg [WIDTH-1:0] data_reg;

        always @(posedge clk) begin
            if (ce) begin
                valid_reg <= in_valid;
                data_reg <= in_data;
            end
            if (rst) begin
                valid_reg <= 1'b0;
            end
        end

        assign out_valid = valid_reg;
        assign out_data = data_reg;
    end else begin : g_wire
        assign out_valid = in_valid;
        assign out_data = in_data;
    end
endgenerate

endmodule

`resetall
